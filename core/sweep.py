"""``tlgen sweep``: a hyperparameter search whose trials are ordinary runs.

An Optuna study (storage: a journal file in the sweep folder, or any Optuna URL) is the
only shared state, so ``--workers K`` processes, or workers on other machines pointed at
the same URL, join one study with Optuna's own mechanism. A trial is ``Run.create`` with
its overrides, then ``execute``; it lives in ``<sweep>/trials/<time>-trial-NNN``.

Pruning reads the trainer's evaluations: a broadcast plugin reports each ``val_loss`` to a
twin trial in a companion single-objective study (``<name>:val_loss``) and raises
``StopTraining`` when the pruner says so. The twin keeps pruning meaningful whatever the
objectives' directions, and for several objectives (Optuna cannot prune those directly).

Crash safety: ``n_trials`` counts COMPLETE and PRUNED trials of the whole study, not of a
process. A trial left RUNNING by a dead worker on this machine (its pid gone) is failed and
its parameters re-enqueued when a worker starts (``--resume``); the retry continues the dead
trial's run folder from its last checkpoint where it has one. RDB storages also get
Optuna's heartbeat, which does the same for workers on other machines.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .errors import StopTraining, TlgenError
from .hookspecs import hookimpl
from .sweep_spec import SweepSpec, read_spec
from .sweep_study import finished, load_studies, open_storage, recover, worker_id

SPEC = "sweep.toml"
SURPLUS = "not run: the study already had its n_trials"


class Surplus(Exception):
    """A trial begun after the study already had its ``n_trials``: it is failed unrun."""


class PruneOnEvaluate:
    """Broadcast plugin: report each evaluation's ``val_loss`` to the pruning twin and stop
    the run (``StopTraining``) when the pruner prunes it."""

    def __init__(self, twin, warmup_steps: int = 0):
        self.twin, self.warmup_steps = twin, warmup_steps
        self.last_step = 0

    @hookimpl
    def on_evaluate(self, step: int, logs: dict) -> None:
        self.last_step = step
        if "val_loss" not in logs:
            return
        self.twin.report(float(logs["val_loss"]), step)
        if step >= self.warmup_steps and self.twin.should_prune():
            raise StopTraining(f"pruned at step {step} (val_loss {logs['val_loss']:.4f})")


# ---------------------------------------------------------------- one trial
def objective(spec: SweepSpec, folder: Path, twin_study, trial, device: str | None = None):
    """Run one trial as an ordinary run; its "after" metrics are the objective values."""
    import psutil

    from .run import Run

    live = [t for t in trial.study.get_trials(deepcopy=False)
            if t.number < trial.number and t.state.name in ("COMPLETE", "PRUNED", "RUNNING",
                                                            "WAITING")]
    if len(live) >= spec.n_trials:
        trial.study.stop()
        trial.set_user_attr("error", SURPLUS)
        raise Surplus(SURPLUS)
    params = {p.key: p.suggest(trial) for p in spec.space}
    trial.set_user_attr("worker", worker_id())
    pruning = PruneOnEvaluate(None, spec.warmup_steps)  # its twin trial once the run exists
    resume_dir = trial.user_attrs.get("resume_dir")  # paths are kept relative to the sweep
    if resume_dir and (folder / resume_dir / "checkpoints").is_dir():
        run = Run.resume(folder / resume_dir, extra_plugins=[pruning])
    else:
        run = Run.create(config_file=folder / "base.toml", overrides=spec.overrides(params),
                         output_dir=folder / "trials", name=f"trial-{trial.number:03d}",
                         device=device, extra_plugins=[pruning])
    trial.set_user_attr("run_dir", os.path.relpath(run.dir, folder))
    pruning.twin = twin = twin_study.ask()
    trial.set_user_attr("twin", twin.number)
    start = time.perf_counter()
    try:
        summary = run.execute()
    except StopTraining:
        _record(trial, start, pruning.last_step)
        twin_study.tell(twin, state=_state("PRUNED"))
        import optuna

        raise optuna.TrialPruned(f"pruned at step {pruning.last_step}") from None
    except KeyboardInterrupt:
        trial.set_user_attr("interrupted", True)
        twin_study.tell(twin, state=_state("FAIL"))
        raise
    except TlgenError as exc:
        trial.set_user_attr("error", str(exc))
        twin_study.tell(twin, state=_state("FAIL"))
        raise
    steps = summary["train"].get("steps", pruning.last_step)
    _record(trial, start, steps)
    after = summary["metrics"]["after"]
    missing = [name for name in spec.objectives if name not in after]
    if missing:
        twin_study.tell(twin, state=_state("FAIL"))
        trial.study.stop()
        raise TlgenError(f"objective {missing[0]!r} is not a metric of plugin {run.plugin!r}; "
                         f"its runs report {', '.join(sorted(after))}")
    trial.set_user_attr("metrics", {k: v for k, v in after.items()
                                    if isinstance(v, int | float)})
    trial.set_user_attr("rss_mb", psutil.Process().memory_info().rss / 2**20)
    twin_study.tell(twin, summary["train"].get("best_val_loss", after.get("val_loss")))
    return [float(after[name]) for name in spec.objectives]


def _record(trial, start: float, steps: int) -> None:
    trial.set_user_attr("wall_s", round(time.perf_counter() - start, 2))
    trial.set_user_attr("steps", int(steps))


def _state(name: str):
    from optuna.trial import TrialState

    return TrialState[name]


# ---------------------------------------------------------------- the sweep
def prepare(config: str | None, out: str | None, resume: str | None,
            n_trials: int | None) -> tuple[SweepSpec, Path]:
    """Check everything (spec, storage, resume compatibility), then create the folder.
    Nothing is written before the last check has passed."""
    if resume:
        folder = Path(resume)
        if not (folder / SPEC).is_file():
            raise TlgenError(f"{folder} is not a sweep folder (no {SPEC} in it)")
        saved = read_spec(folder / SPEC, n_trials)
        spec = read_spec(config, n_trials) if config else saved
        if spec.fingerprint() != saved.fingerprint():
            raise TlgenError(f"--resume {folder}: {config} has another search space, objectives "
                             "or base config than this sweep; start a new sweep (-o NEW_DIR)")
        if n_trials is not None and n_trials != saved.n_trials:
            _save_n_trials(folder / SPEC, n_trials)
        spec.n_trials = n_trials or saved.n_trials
        return spec, folder
    if not config:
        raise TlgenError("give --config SWEEP.toml (a new sweep) or --resume SWEEP_DIR")
    spec = read_spec(config, n_trials)
    folder = Path(out or Path("sweeps") / f"{time.strftime('%Y%m%d-%H%M%S')}-{spec.study_name}")
    if folder.exists() and any(folder.iterdir()):
        raise TlgenError(f"{folder} is not empty; give a new -o folder or --resume {folder}")
    if spec.storage:
        open_storage(spec, folder, create=False)  # one line if it cannot be reached
    _write_folder(spec, config, folder)
    return spec, folder


def _save_n_trials(path: Path, n_trials: int) -> None:
    import tomllib

    import tomli_w

    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    raw["sweep"]["n_trials"] = n_trials
    path.write_text(f"# n_trials changed to {n_trials} by --resume --trials\n"
                    + tomli_w.dumps(raw), encoding="utf-8")


def _write_folder(spec: SweepSpec, config: str, folder: Path) -> None:
    """The sweep file (its base inlined, for --resume) and the trials' base config."""
    import tomli_w

    from . import config as cfg

    folder.mkdir(parents=True, exist_ok=True)
    raw = cfg.read_toml(config)
    raw["sweep"].pop("config", None)
    raw["sweep"].update(n_trials=spec.n_trials, study_name=spec.study_name)
    body = {**spec.base, "sweep": raw["sweep"]}
    (folder / SPEC).write_text(f"# copied from {config}\n" + tomli_w.dumps(body), "utf-8")
    (folder / "base.toml").write_text(tomli_w.dumps({**spec.base, "before": spec.base.get(
        "before", False)}), encoding="utf-8")


def work(spec: SweepSpec, folder: Path, device: str | None = None, bar=None,
         worker: int = 0) -> None:
    """One worker: run trials until the study has ``n_trials`` complete or pruned ones."""
    storage = open_storage(spec, folder)
    study, twin = load_studies(spec, storage, worker)
    study.set_user_attr("fingerprint", spec.fingerprint())
    failures = [0]

    def after_trial(study, frozen) -> None:
        failures[0] += frozen.state.name == "FAIL" and not frozen.user_attrs.get("interrupted")
        if finished(study) >= spec.n_trials or failures[0] >= max(3, spec.n_trials):
            study.stop()
        if bar is not None:
            bar.update(finished(study) - bar.n)
            bar.set_postfix_str(best_text(spec, study))

    if finished(study) >= spec.n_trials:
        return
    study.optimize(lambda trial: objective(spec, folder, twin, trial, device), n_trials=None,
                   callbacks=[after_trial], catch=(Surplus, TlgenError), gc_after_trial=True)
    errors = [t.user_attrs["error"] for t in study.trials if "error" in t.user_attrs
              and "is not a metric" in t.user_attrs["error"]]
    if errors:
        raise TlgenError(errors[-1])


def best_text(spec: SweepSpec, study) -> str:
    """"best valid=0.91" (one objective) or "pareto 3" (several)."""
    try:
        best = study.best_trials
    except ValueError:
        return ""
    if not best:
        return ""
    if len(spec.objectives) == 1:
        (name,) = spec.objectives
        return f"best {name}={study.best_value:.4g}"
    return f"pareto front: {len(best)} trial(s)"


def _worker_main(config_path: str, n_trials: int, folder: str, device: str | None,
                 worker: int) -> None:
    """A spawned worker process: one line and exit 2 on bad input, quiet on Ctrl-C."""
    import sys

    try:
        work(read_spec(config_path, n_trials), Path(folder), device, worker=worker)
    except TlgenError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


def sweep(config: str | None = None, out: str | None = None, n_trials: int | None = None,
          workers: int = 1, resume: str | None = None, device: str | None = None) -> Path:
    """Run (or resume) a sweep; write sweep.html and best.toml; return the page."""
    from tqdm.auto import tqdm

    from .sweep_report import write_sweep_report

    if workers < 1:
        raise TlgenError("--workers must be at least 1")
    spec, folder = prepare(config, out, resume, n_trials)
    storage = open_storage(spec, folder)
    study, twin = load_studies(spec, storage)
    if not study.get_trials(deepcopy=False):  # a new study: the enqueued trials go first
        for params in spec.enqueue:
            study.enqueue_trial(params, user_attrs={"enqueued": True})
    failed = recover(storage, study, twin, folder)  # once, before any worker asks for a trial
    if failed:
        print(f"trial(s) {', '.join(map(str, failed))} were left RUNNING by a dead worker: "
              "failed, and their parameters queued again")
    bar = tqdm(total=spec.n_trials, desc="sweep trials", initial=min(finished(study),
                                                                       spec.n_trials))
    try:
        _run_workers(spec, folder, workers, device, study, bar)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"interrupted: `tlgen sweep --resume {folder}` continues the "
                                "sweep (an interrupted trial from its last checkpoint)") from None
    bar.update(min(finished(study), spec.n_trials) - bar.n)
    bar.close()
    return write_sweep_report(spec, study, folder)


def _run_workers(spec: SweepSpec, folder: Path, workers: int, device: str | None, study,
                 bar) -> None:
    """This process as the one worker, or ``workers`` spawned processes on one study."""
    import multiprocessing

    if workers == 1:
        work(spec, folder, device, bar)
    else:
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_worker_main, args=(str(folder / SPEC), spec.n_trials,
                                                         str(folder), device, i))
                 for i in range(workers)]
        for p in procs:
            p.start()
        while any(p.is_alive() for p in procs):
            time.sleep(2)
            bar.update(min(finished(study), spec.n_trials) - bar.n)
            bar.set_postfix_str(best_text(spec, study))
        if any(p.exitcode for p in procs):
            raise TlgenError(f"{sum(bool(p.exitcode) for p in procs)} of {workers} workers "
                             f"failed (their error is above); `tlgen sweep --resume {folder}` "
                             "continues the study")
