"""The run report: before/after metrics table, learning curves and the plugin's figures."""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def table_rows(metrics: dict[str, dict]) -> list[tuple[str, str, str, str]]:
    """(metric, before, after, change) rows for every metric of either stage."""
    before, after = metrics.get("before", {}), metrics.get("after", {})
    rows = []
    for key in list(dict.fromkeys([*before, *after])):
        b, a = before.get(key), after.get(key)
        delta = a - b if isinstance(a, int | float) and isinstance(b, int | float) else None
        rows.append((key, _fmt(b), _fmt(a), "" if delta is None else f"{delta:+.4g}"))
    return rows


def print_table(metrics: dict[str, dict]) -> None:
    """The before/after table on stdout."""
    rows = [("metric", "before", "after", "change"), *table_rows(metrics)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) if j == 0 else cell.rjust(w)
                        for j, (cell, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def plot_learning_curves(run_dir: Path) -> Path | None:
    """learning_curves.png: training loss and validation loss against steps."""
    records = read_metrics(run_dir)
    train = [(r["step"], r["loss"]) for r in records if r.get("split") == "train"]
    val = [(r["step"], r["val_loss"]) for r in records if r.get("split") == "eval"]
    if not train and not val:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for points, label in ((train, "train loss"), (val, "validation loss")):
        if points:
            ax.plot(*zip(*points), marker="o" if len(points) < 30 else None, label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(run_dir) / "learning_curves.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def write_report(run, metrics: dict[str, dict], train_summary: dict | None) -> Path:
    """report.html in the run folder: table, curves, then each plugin's sections."""
    sections = [{"title": "Learning curves", "image": plot_learning_curves(run.dir)}]
    sections += run.call("report", metrics=metrics)
    body = [f"<h1>tlgen run: {html.escape(run.plugin)}</h1>",
            f"<p>{html.escape(str(run.dir))}</p>", "<h2>Before vs after fine-tuning</h2>",
            "<table><tr><th>metric</th><th>before</th><th>after</th><th>change</th></tr>"]
    body += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
             for row in table_rows(metrics)]
    body.append("</table>")
    if train_summary:
        body.append("<h2>Training</h2><table>")
        body += [f"<tr><td>{html.escape(k)}</td><td>{html.escape(_fmt(v))}</td></tr>"
                 for k, v in train_summary.items()]
        body.append("</table>")
    for section in sections:
        if section.get("image") is None and not section.get("html"):
            continue
        body.append(f"<h2>{html.escape(section['title'])}</h2>")
        if section.get("image"):
            rel = Path(section["image"]).resolve().relative_to(run.dir.resolve())
            body.append(f'<img src="{html.escape(str(rel))}" style="max-width:100%">')
        if section.get("html"):
            body.append(section["html"])
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
             "td:not(:first-child){text-align:right}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>tlgen {run.plugin}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")
    out = run.dir / "report.html"
    out.write_text(page, encoding="utf-8")
    return out
