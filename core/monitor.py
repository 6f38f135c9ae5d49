"""``tlgen monitor``: cut the served-artefact log into windows of one size, compute the
plugin's metrics of each window through its ``evaluate`` hook, test each per-item metric for
drift against the run's own "after" samples (:mod:`tlgen.drift`), write monitor.html and a
one-line verdict.

The reference: a run keeps no "after" samples on disk (``Run.stage`` stores only the kept
"before" stage), so the monitor draws them again from the run's trained model with the run's
own ``[sample]`` section (its seed included: the same draw as the run's "after" stage when
the weights are the same) and keeps them, with their item rows and ``evaluate`` metrics, in
``RUN/serving/reference.json`` (JSON, reused while the weights and settings are unchanged).
"""

from __future__ import annotations

import base64
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .drift import ColumnDrift, column_kinds, drift_of
from .errors import TlgenError

STAGE = "monitor"


@dataclass
class Window:
    index: int
    start: int  # position of its first artefact in the log
    first_time: float
    metrics: dict[str, float]
    drifts: list[ColumnDrift] = field(default_factory=list)
    flagged: bool = False

    @property
    def drifted(self) -> list[ColumnDrift]:
        return [d for d in self.drifts if d.drifted]


@dataclass
class Verdict:
    drift: bool
    line: str
    windows: list[Window]
    report: Path


def read_served(logs: str | Path) -> tuple[list[dict], int]:
    """Served rows from a log file or a folder of them (``served*.jsonl*``, rotated ones
    included), in the order they were served; and how many lines could not be read."""
    path = Path(logs)
    files = sorted(path.glob("served*.jsonl*")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise TlgenError(f"no served-artefact log at {path} (tlgen serve writes "
                         "RUN/serving/served.jsonl)")
    rows, bad = [], 0
    for file in files:
        for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(row, dict) and isinstance(row.get("metrics"), dict):
                rows.append(row)
            else:
                bad += 1
    rows.sort(key=lambda r: (r.get("time", 0), r.get("request_id", ""), r.get("index", 0)))
    return rows, bad


def reference(engine, n: int | None) -> dict[str, Any]:
    """The run's "after" samples, their item rows and metrics (drawn once, then cached)."""
    from .checkpoints import trained_weights

    run = engine.run
    config = run.config.sample
    n = n or config.n
    weights = trained_weights(run.dir / "checkpoints")
    key = {"weights": str(weights), "mtime": weights.stat().st_mtime, "n": n,
           "sample": config.model_dump(mode="json")}
    cache = run.dir / "serving" / "reference.json"
    if cache.is_file():
        stored = json.loads(cache.read_text())
        if stored.get("key") == key:
            return stored
    run.log(f"drawing {n} reference samples from {run.dir} (kept in {cache})")
    samples = engine.sample(config, n)
    rows = engine.item_metrics(config, samples)
    metrics = run.call("evaluate", backbone=engine.backbone, data=engine.data,
                       samples=samples, stage=STAGE)
    from .serve import encode, jsonable

    stored = {"key": key, "samples": [encode(s) for s in samples], "rows": jsonable(rows),
              "metrics": jsonable(metrics)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(stored))
    return stored


def windows_of(engine, rows: list[dict], size: int, ref_rows: list[dict], alpha: float,
               drift_share: float) -> list[Window]:
    """Each full window of ``size`` rows: its ``evaluate`` metrics and per-column drift."""
    kinds = column_kinds(ref_rows)
    out = []
    for index in range(len(rows) // size):
        chunk = rows[index * size:(index + 1) * size]
        artefacts = [r.get("artefact") for r in chunk]
        metrics = {}
        if all(isinstance(a, str) for a in artefacts):
            metrics = engine.run.call("evaluate", backbone=engine.backbone, data=engine.data,
                                      samples=artefacts, stage=STAGE)
        window = Window(index, index * size, chunk[0].get("time", 0.0), metrics)
        for name, kind in kinds.items():
            found = drift_of(name, kind, [r.get(name) for r in ref_rows],
                                [r["metrics"].get(name) for r in chunk], alpha)
            if found is not None:
                window.drifts.append(found)
        window.flagged = bool(window.drifts) and (
            len(window.drifted) / len(window.drifts) >= drift_share)
        out.append(window)
    return out


def run_monitor(logs: str | Path, run_dir: str | Path, size: int = 200, alpha: float = 0.05,
                drift_share: float = 0.5, reference_n: int | None = None,
                out: str | Path | None = None, threads: int | None = None) -> Verdict:
    """Test the served log at ``logs`` against the run at ``run_dir``; write the report."""
    from .engine import Engine

    rows, bad = read_served(logs)
    if len(rows) < size:
        raise TlgenError(f"{len(rows)} served artefacts in {logs}: fewer than one window of "
                         f"{size} (--window sets the size)")
    engine = Engine.load(run_dir, threads=threads)
    ref = reference(engine, reference_n)
    windows = windows_of(engine, rows, size, ref["rows"], alpha, drift_share)
    flagged = [w for w in windows if w.flagged]
    left = len(rows) - len(windows) * size
    head = (f"monitor: {len(windows)} windows of {size} ({len(windows) * size} served "
            f"artefacts; {left} wait for the next window"
            + (f"; {bad} unreadable lines skipped" if bad else "")
            + f") against {len(ref['rows'])} 'after' samples of {engine.name}: ")
    if flagged:
        moved = sorted({d.column for w in flagged for d in w.drifted})
        first = flagged[0]
        line = (head + f"DRIFT in {len(flagged)} window(s), first window {first.index} "
                f"(artefacts {first.start}-{first.start + size - 1}): "
                + ", ".join(d.describe() for d in first.drifted)
                + f"; metrics that moved: {', '.join(moved)}")
    else:
        line = head + "no drift"
    base = Path(logs)
    report = Path(out) if out else (base if base.is_dir() else base.parent) / "monitor.html"
    write_report(report, line, windows, ref, size, alpha, drift_share, engine.name)
    engine.close()
    return Verdict(bool(flagged), line, windows, report)


def write_report(path: Path, line: str, windows: list[Window], ref: dict, size: int,
                 alpha: float, drift_share: float, name: str) -> Path:
    """monitor.html: a time series per metric (the reference as a line, flagged windows
    shaded), then a table of what drifted in each window."""
    import jinja2

    charts = []
    names = sorted({k for w in windows for k, v in w.metrics.items() if _number(v)})
    for metric in names:
        charts.append((metric, _chart(metric, [w.metrics.get(metric) for w in windows],
                                      ref["metrics"].get(metric), windows)))
    columns = sorted({d.column for w in windows for d in w.drifts})
    for column in columns:
        series = [next((d.current for d in w.drifts if d.column == column), None)
                  for w in windows]
        if any(v is not None for v in series):
            refs = [d.reference for w in windows for d in w.drifts if d.column == column]
            charts.append((f"{column} (item mean)", _chart(column, series, refs[0], windows)))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                             autoescape=True)
    html = env.get_template("monitor.html.j2").render(
        line=line, windows=windows, columns=columns, charts=charts, size=size, alpha=alpha,
        drift_share=drift_share, name=name, when=time.strftime("%Y-%m-%d %H:%M:%S"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def _chart(metric: str, values: list, reference: Any, windows: list[Window]) -> str:
    """One metric per window as a base64 PNG (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.2))
    xs = [w.index for w in windows]
    ax.plot(xs, [v if _number(v) else math.nan for v in values], marker="o", ms=3)
    if _number(reference):
        ax.axhline(reference, color="gray", ls="--", lw=1, label="run 'after'")
        ax.legend(loc="best", fontsize=7)
    for w in windows:
        if w.flagged:
            ax.axvspan(w.index - 0.5, w.index + 0.5, color="red", alpha=0.15)
    ax.set_title(metric, fontsize=9)
    ax.set_xlabel("window", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)
