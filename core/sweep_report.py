"""sweep.html: the trials table and Optuna's matplotlib plots (history, importances,
parallel coordinates, Pareto front), rendered with the same Jinja approach as report.html;
best.toml beside it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .report import fmt, plt
from .sweep import SURPLUS
from .sweep_spec import SweepSpec


def trial_rows(spec: SweepSpec, study, folder: Path) -> list[dict]:
    """One row per trial: number, state, parameters, objective values, steps, wall time and
    the link to its run report (relative to the sweep folder)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("error") == SURPLUS:
            continue
        run_dir = t.user_attrs.get("run_dir")
        link = None  # the run's report, or its folder where it stopped before one (pruned)
        if run_dir and (folder / run_dir).is_dir():
            report = folder / run_dir / "report.html"
            link = os.path.relpath(report if report.is_file() else folder / run_dir, folder)
        values = list(t.values) if t.values else [None] * len(spec.objectives)
        note = t.user_attrs.get("error", "")
        if "retry_of" in t.user_attrs:
            note = f"retry of trial {t.user_attrs['retry_of']}. {note}".strip()
        rows.append({"number": t.number, "state": t.state.name,
                     "params": [t.params.get(p.key) for p in spec.space], "values": values,
                     "steps": t.user_attrs.get("steps"), "wall_s": t.user_attrs.get("wall_s"),
                     "rss_mb": t.user_attrs.get("rss_mb"), "link": link, "note": note})
    return rows


def _plots(spec: SweepSpec, study, folder: Path) -> list[dict]:
    """Optuna's matplotlib figures as PNGs; a figure with too few trials is left out."""
    import warnings

    import optuna
    from optuna.visualization import matplotlib as ovm

    names = list(spec.objectives)
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    figures = []
    for i, name in enumerate(names):
        target = None if len(names) == 1 else (lambda t, i=i: t.values[i])
        kwargs = {} if target is None else {"target": target, "target_name": name}
        figures.append((f"history_{i}", f"Optimisation history: {name}",
                        lambda kw=kwargs: ovm.plot_optimization_history(study, **kw)))
        if len(complete) >= 2 and spec.space:
            figures.append((f"importance_{i}", f"Parameter importances for {name}",
                            lambda kw=kwargs: ovm.plot_param_importances(study, **kw)))
    figures.append(("parallel", f"Parallel coordinates ({names[0]})",
                    lambda: ovm.plot_parallel_coordinate(
                        study, **({} if len(names) == 1 else {"target": lambda t: t.values[0],
                                                               "target_name": names[0]}))))
    if len(names) > 1:
        figures.append(("pareto", "Pareto front (red: the non-dominated trials)",
                        lambda: ovm.plot_pareto_front(study, target_names=names)))
    sections = []
    for stem, title, draw in figures:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                axes = draw()
            except (ValueError, RuntimeError, ZeroDivisionError):
                continue  # e.g. importances need two trials with different values
        figure = axes.ravel()[0].figure if hasattr(axes, "ravel") else axes.figure
        wide = 1.8 * (len(spec.space) + 1) if stem == "parallel" else 0.0  # one axis a key
        figure.set_size_inches(max(6.0, wide, figure.get_figwidth()), 4.0)
        figure.tight_layout()
        path = folder / "plots" / f"{stem}.png"
        path.parent.mkdir(exist_ok=True)
        figure.savefig(path, dpi=100)
        plt.close(figure)
        sections.append({"title": title, "image": f"plots/{stem}.png"})
    return sections


def write_sweep_report(spec: SweepSpec, study, folder: Path) -> Path:
    """Write sweep.html, trials.json and best.toml in the sweep folder; return the page."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from .sweep_study import counts

    rows = trial_rows(spec, study, folder)
    (folder / "trials.json").write_text(json.dumps(rows, indent=2, default=str))
    best = best_config(spec, study, folder)
    chosen = chosen_trial(spec, study)
    try:
        front = {t.number for t in study.best_trials}
    except ValueError:
        front = set()
    pruned = [r for r in rows if r["state"] == "PRUNED"]
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True)
    env.filters["fmt"] = fmt
    page = env.get_template("sweep.html.j2").render(
        title=f"tlgen sweep: {spec.study_name}", spec=spec, rows=rows, front=front,
        counts=counts(study), best=best.name if best else None,
        chosen=chosen.number if chosen else None,
        steps_run=sum(r["steps"] or 0 for r in rows), pruned_steps=sum(r["steps"] or 0
                                                                       for r in pruned),
        plots=_plots(spec, study, folder), folder=str(folder))
    out = folder / "sweep.html"
    out.write_text(page, encoding="utf-8")
    return out


def chosen_trial(spec: SweepSpec, study):
    """The trial best.toml copies. One objective: the best. Several: if the first enqueued
    trial (the user's own settings, the baseline) is complete and some Pareto trials beat it
    (better on an objective, worse on none), the one that gains most on it (each gain over
    that objective's range among complete trials, summed); else the front's best on the
    first objective."""
    try:
        front = study.best_trials
    except ValueError:
        return None
    if not front:
        return None
    signs = [1 if d == "minimize" else -1 for d in spec.objectives.values()]
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    baseline = next((t for t in done if t.user_attrs.get("enqueued")), None)
    if baseline is not None:
        spans = [max(t.values[i] for t in done) - min(t.values[i] for t in done) or 1.0
                 for i in range(len(signs))]
        gains = {t.number: [(baseline.values[i] - t.values[i]) * s / spans[i]
                            for i, s in enumerate(signs)] for t in front}
        better = [t for t in front if min(gains[t.number]) >= 0 and max(gains[t.number]) > 0]
        if better:
            return max(better, key=lambda t: sum(gains[t.number]))
    return min(front, key=lambda t: signs[0] * t.values[0])


def best_config(spec: SweepSpec, study, folder: Path) -> Path | None:
    """best.toml: the chosen trial's resolved config, ready for ``tlgen run --config``."""
    import tomli_w

    from . import config as cfg

    best = chosen_trial(spec, study)
    if best is None:
        return None
    raw = cfg.read_toml(folder / best.user_attrs["run_dir"] / "config.toml")
    raw["output_dir"], raw["name"] = "runs", f"{spec.study_name}-best"
    values = ", ".join(f"{k} {v:.4g}" for k, v in zip(spec.objectives, best.values))
    header = (f"# {spec.study_name}: trial {best.number} ({values}); its run: "
              f"{folder / best.user_attrs['run_dir']}\n"
              f"# reproduce: tlgen run --config {folder}/best.toml\n")
    path = folder / "best.toml"
    path.write_text(header + tomli_w.dumps(raw), encoding="utf-8")
    return path
