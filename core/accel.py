"""The Accelerate object of a run: device, precision and trackers, built when the run
executes, its precision decided by the device the run actually uses."""

from __future__ import annotations

import os
from typing import Any, Sequence

from . import config as cfg
from .errors import TlgenError

TRACKER_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow",
                    "comet_ml": "comet_ml", "aim": "aim", "clearml": "clearml",
                    "dvclive": "dvclive"}


def check_trackers(trackers: Sequence[str]) -> None:
    """Each tracker is known and its package importable, else one line saying what to install."""
    import importlib.util

    for name in trackers:
        package = TRACKER_PACKAGES.get(name)
        if package is None:
            raise TlgenError(f"config key 'train.trackers': unknown tracker {name!r}; use one of "
                             f"{', '.join(TRACKER_PACKAGES)}")
        found = importlib.util.find_spec(package) is not None
        if name == "tensorboard" and not found:
            found = importlib.util.find_spec("tensorboardX") is not None
        if not found:
            raise TlgenError(f"tracker {name!r} needs the {package} package: "
                             f"pip install 'tlgen[{name}]' (or drop it from train.trackers)")


_CURRENT: dict[str, Any] = {}  # this process's Accelerate state belongs to one run at a time


def check(train: cfg.TrainConfig) -> str:
    """What the ``[train]`` section asks of this machine is there (the GPU, the precision,
    the trackers' packages), else one line; returns the mixed precision to use."""
    import torch

    if train.device == "cuda" and not torch.cuda.is_available():
        raise TlgenError("device 'cuda' was asked for but no GPU is available here; "
                         "use --device cpu")
    on_gpu = train.device != "cpu" and torch.cuda.is_available()
    precision = train.precision
    if precision == "auto":  # bf16 where the device the run uses has it, else fp32
        precision = "bf16" if on_gpu and torch.cuda.is_bf16_supported() else "no"
    if precision != "no" and not on_gpu:
        raise TlgenError(f"precision {precision!r} needs a GPU and the run uses the CPU; use "
                         "--set train.precision=no (or auto)")
    check_trackers(train.trackers)
    return precision


def make_accelerator(train: cfg.TrainConfig):
    """A new Accelerator for a run. Accelerate keeps its settings in process-wide state, so
    a second run in the same process (the Python API, a notebook) with another device or
    precision resets that state first instead of silently inheriting the first run's."""
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState, PartialState
    from accelerate.utils import ProjectConfiguration

    precision = check(train)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    settings = (train.device == "cpu", precision)
    if _CURRENT and PartialState().num_processes == 1:
        AcceleratorState._reset_state(reset_partial_state=_CURRENT["settings"][0] != settings[0])
        GradientState._reset_state()
    if train.tf32 and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    accelerator = Accelerator(
        cpu=settings[0],
        mixed_precision=precision,
        log_with=train.trackers or None,
        project_config=ProjectConfiguration(),
        step_scheduler_with_optimizer=False,
    )
    _CURRENT.update(settings=settings, accelerator=accelerator)
    return accelerator
