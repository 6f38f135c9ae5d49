"""The Optuna side of ``tlgen sweep``: storage, sampler, pruner, the study and its pruning
twin, and the recovery of trials that dead workers left RUNNING."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from .errors import TlgenError
from .sweep_spec import SweepSpec

JOURNAL = "study.journal"


def open_storage(spec: SweepSpec, folder: Path, create: bool = True):
    """The study's storage: the URL in the spec, else a journal file in the folder. An
    unreachable URL is one line."""
    import optuna
    from optuna.storages import JournalStorage, RDBStorage, RetryFailedTrialCallback
    from optuna.storages.journal import JournalFileBackend

    if not spec.storage:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(folder / JOURNAL)))
    try:
        if spec.storage.startswith(("journal:", "file:")):
            return JournalStorage(JournalFileBackend(spec.storage.split(":", 1)[1]))
        return RDBStorage(spec.storage, heartbeat_interval=30, grace_period=120,
                          heartbeat_stale_trial_callback=RetryFailedTrialCallback(max_retry=3))
    except (optuna.exceptions.StorageInternalError, ImportError, OSError, ValueError) as exc:
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise TlgenError(f"storage {spec.storage!r} cannot be reached: {detail}") from None
    except Exception as exc:  # sqlalchemy's own errors (a bad URL, a refused connection)
        if type(exc).__module__.startswith("sqlalchemy"):
            raise TlgenError(f"storage {spec.storage!r} cannot be reached: "
                             f"{str(exc).splitlines()[0][:160]}") from None
        raise


def make_sampler(spec: SweepSpec, offset: int = 0):
    """The sampler; ``offset`` (a worker's index and the trials already in the study) varies
    the seed, so workers, and a resumed sweep, do not repeat each other's random draws."""
    import optuna

    seed = spec.seed + offset

    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if spec.sampler == "qmc":
        return optuna.samplers.QMCSampler(seed=spec.seed)
    startup = max(3, min(10, spec.n_trials // 3))
    with _quiet_experimental():
        return optuna.samplers.TPESampler(multivariate=True, group=True, seed=seed,
                                          n_startup_trials=startup, constant_liar=True)


def make_pruner(spec: SweepSpec):
    import optuna

    startup = max(2, min(5, spec.n_trials // 4))
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup)
    if spec.pruner == "percentile":  # keep only trials among the best `percentile` % so far
        return optuna.pruners.PercentilePruner(spec.percentile, n_startup_trials=startup)
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if spec.pruner == "wilcoxon":
        return optuna.pruners.WilcoxonPruner()
    return optuna.pruners.NopPruner()


def load_studies(spec: SweepSpec, storage, worker: int = 0):
    """The main study (the objectives) and its pruning twin (val_loss, minimised)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    with _quiet_experimental():
        study = optuna.create_study(
            storage=storage, study_name=spec.study_name, load_if_exists=True,
            directions=list(spec.objectives.values()))
        study.sampler = make_sampler(spec, 1000 * worker + len(study.get_trials(deepcopy=False)))
        twin = optuna.create_study(storage=storage, study_name=f"{spec.study_name}:val_loss",
                                   load_if_exists=True, pruner=make_pruner(spec),
                                   direction="minimize")
    return study, twin


@contextlib.contextmanager
def _quiet_experimental():
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def counts(study) -> dict[str, int]:
    from collections import Counter

    return dict(Counter(t.state.name for t in study.get_trials(deepcopy=False)))


def finished(study) -> int:
    found = counts(study)
    return found.get("COMPLETE", 0) + found.get("PRUNED", 0)


# ---------------------------------------------------------------- crash recovery
def worker_id() -> dict[str, Any]:
    import psutil

    return {"host": socket.gethostname(), "pid": os.getpid(),
            "started": psutil.Process().create_time()}


def worker_alive(worker: dict | None) -> bool:
    """Whether the worker that owns a RUNNING trial still runs (only knowable on its host:
    elsewhere it is presumed alive, and the storage's heartbeat is what fails it)."""
    import psutil

    if not worker or worker.get("host") != socket.gethostname():
        return True
    try:
        return abs(psutil.Process(worker["pid"]).create_time() - worker["started"]) < 1e-3
    except psutil.Error:
        return False


def recover(storage, study, twin, folder: Path) -> list[int]:
    """Fail the RUNNING trials of dead workers on this machine (and their pruning twins)
    and re-enqueue their parameters (once per trial); return the failed trials' numbers."""
    from optuna.trial import TrialState

    def fail(name: str, number: int) -> None:
        trial_id = storage.get_trial_id_from_study_id_trial_number(
            storage.get_study_id_from_name(name), number)
        if storage.get_trial(trial_id).state == TrialState.RUNNING:
            storage.set_trial_user_attr(trial_id, "error", "its worker died")
            storage.set_trial_state_values(trial_id, TrialState.FAIL)

    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    failed = []
    for t in trials:
        dead = t.state == TrialState.RUNNING and not worker_alive(t.user_attrs.get("worker"))
        if dead:
            fail(study.study_name, t.number)
            if "twin" in t.user_attrs:
                fail(twin.study_name, t.user_attrs["twin"])
            failed.append(t.number)
            run_dir = t.user_attrs.get("run_dir")  # relative to the sweep folder
            if run_dir and not (folder / run_dir / "checkpoints").is_dir():
                shutil.rmtree(folder / run_dir, ignore_errors=True)  # nothing to continue from
        interrupted = t.state == TrialState.FAIL and t.user_attrs.get("interrupted")
        if (dead or interrupted) and t.number not in retried:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number,
                                                      "resume_dir": t.user_attrs.get("run_dir")})
    return failed
