"""The run report: one Jinja2 template renders every page (a run's report.html, the
comparison of ``tlgen compare``) from sections that plugins return as data:
``{"title", "image" | "text" | "items" | "table", "note"?}`` (see the ``report`` hook)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .errors import PluginError  # noqa: E402
from .figures import save_figure  # noqa: E402
from .guards import read_metrics_log  # noqa: E402

KINDS = ("image", "text", "items", "table")


def read_metrics(run_dir: Path) -> list[dict]:
    lines, _ = read_metrics_log(Path(run_dir) / "metrics.jsonl")  # a torn last line is left out
    return [json.loads(line) for line in lines]


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def table_rows(metrics: dict[str, dict]) -> list[list]:
    """[metric, value per stage..., change] rows for every metric of any stage."""
    stages = list(metrics)
    rows = []
    for key in dict.fromkeys(k for m in metrics.values() for k in m):
        values = [metrics[s].get(key) for s in stages]
        first, last = values[0], values[-1]
        numbers = len(values) > 1 and all(isinstance(v, int | float) for v in (first, last))
        rows.append([key, *values, f"{last - first:+.4g}" if numbers else ""])
    return rows


def print_table(metrics: dict[str, dict]) -> None:
    """The before/after table on stdout."""
    rows = [["metric", *metrics, "change"], *([fmt(c) for c in r] for r in table_rows(metrics))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
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
    return save_figure(fig, run_dir, "learning_curves")


def plot_reward_curves(run_dir: Path) -> Path | None:
    """reward_curves.png: the reward stage's score (batch mean and top-10), the valid and
    duplicate shares, and the agent's and prior's NLL of the samples, per step."""
    records = [r for r in read_metrics(run_dir) if r.get("split") == "reward"]
    if not records:
        return None
    steps = [r["step"] for r in records]
    panels = ((("score", "batch mean score"), ("top10", "top-10 score")),
              (("valid", "valid"), ("duplicates", "duplicates")),
              (("agent_nll", "agent NLL"), ("prior_nll", "prior NLL")))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    for ax, lines in zip(axes, panels):
        for key, label in lines:
            ax.plot(steps, [r.get(key) for r in records], label=label)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    components = sorted({k for r in records for k in r if k.startswith("component/")})
    for key in components:
        axes[0].plot(steps, [r.get(key) for r in records], linestyle=":", label=key[10:])
    if components:
        axes[0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, run_dir, "reward_curves")


def check_section(section, source: str) -> dict:
    """A plugin's section, checked against the contract (one line naming what is wrong)."""
    if not isinstance(section, dict) or not isinstance(section.get("title"), str):
        raise PluginError(f"plugin {source!r}, hook 'report': each section must be a dict with a "
                          f"'title', got {section!r:.80}")
    unknown = set(section) - {"title", "note", *KINDS}
    if unknown:
        raise PluginError(f"plugin {source!r}, hook 'report': section {section['title']!r} has "
                          f"unknown key(s) {sorted(unknown)}; use one of {', '.join(KINDS)}")
    table = section.get("table")
    if table is not None and not (isinstance(table, dict) and {"columns", "rows"} <= set(table)):
        raise PluginError(f"plugin {source!r}, hook 'report': section {section['title']!r}: "
                          "a table is {'columns': [...], 'rows': [[...], ...]}")
    return section


def render(out: Path, title: str, sections: list[dict], subtitle: str = "") -> Path:
    """Write one HTML page from sections; images are linked relative to the page."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True)
    env.filters["fmt"] = fmt
    env.filters["hue"] = lambda label: (sum(map(ord, str(label))) * 47) % 360
    shown = []
    for section in sections:
        if not any(section.get(k) for k in KINDS):
            continue  # e.g. a figure that had nothing to plot
        section = {k: section.get(k) for k in ("title", "note", *KINDS)}
        if section.get("image"):
            section["image"] = Path(section["image"]).resolve().relative_to(out.parent.resolve())
        shown.append(section)
    page = env.get_template("report.html.j2").render(title=title, subtitle=subtitle,
                                                     sections=shown)
    out.write_text(page, encoding="utf-8")
    return out


def write_report(run, data, results: dict, train_summary: dict | None) -> Path:
    """report.html in the run folder: the stages' metrics, training, learning curves, then
    the plugin's sections."""
    metrics = {name: result.metrics for name, result in results.items()}
    sections = [{"title": "Before vs after fine-tuning" if len(metrics) > 1 else "Metrics",
                 "table": {"columns": ["metric", *metrics, "change"],
                           "rows": table_rows(metrics)}}]
    if train_summary:
        sections.append({"title": "Training", "table": {
            "columns": ["", ""], "rows": [[k, v] for k, v in train_summary.items()]}})
    sections.append({"title": "Learning curves", "image": plot_learning_curves(run.dir)})
    sections.append({"title": "Reward-guided stage: score, validity and likelihood per step "
                              "(every scored sample is in scored.csv)",
                     "image": plot_reward_curves(run.dir)})
    sections += [check_section(s, run.plugin)
                 for s in run.call("report", data=data, results=results)]
    return render(run.dir / "report.html", f"tlgen run: {run.plugin}", sections, str(run.dir))
