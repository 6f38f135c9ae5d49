"""What every training loop holds beside its own math: the SIGINT/SIGTERM guard and the
interrupt flag, the metrics log (``metrics.jsonl`` plus Accelerate's trackers), the
checkpoints, and the objects a checkpoint saves. The likelihood trainer and the reward stage
each hold one ``Session``; neither inherits from the other."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from pathlib import Path
from typing import Callable

import torch

from .checkpoints import CheckpointStore, keep_trainable


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; the loop saved a checkpoint at the current step."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class PluginState:
    """``run.state``, the plugin's own per-run values, as a checkpointed object."""

    def __init__(self, run) -> None:
        self.run = run

    def state_dict(self) -> dict:
        return dict(self.run.state)

    def load_state_dict(self, state: dict) -> None:
        self.run.state.clear()
        self.run.state.update(state)


class Session:
    """One loop's signals, log and checkpoints, in ``run``'s folder."""

    def __init__(self, run, keep_last: int) -> None:
        self.run = run
        self.accelerator = run.accelerator
        self.checkpoints = CheckpointStore(run.dir / "checkpoints", self.accelerator, keep_last)
        self.signal: int | None = None
        self.saved_step = -1
        self._on_resume: list[Callable[[int], None]] = [self._cut_metrics]

    def register(self, *objects, on_resume: Callable[[int], None] | None = None) -> None:
        """Save ``objects`` (``state_dict``/``load_state_dict``) and ``run.state`` with every
        checkpoint, the model cut to its trainable weights; ``on_resume(step)`` cuts the
        loop's own files back to a restored checkpoint's step."""
        self.accelerator.register_for_checkpointing(*objects, PluginState(self.run))
        self.accelerator.register_save_state_pre_hook(keep_trainable)
        if on_resume is not None:
            self._on_resume.append(on_resume)

    # ---------------------------------------------------------------- checkpoints
    def save(self, step: int) -> Path:
        path = self.checkpoints.save(step)
        self.saved_step = step
        return path

    def resume(self, model: torch.nn.Module, step_of: Callable[[], int]) -> bool:
        """Restore the latest checkpoint, if any, and cut the logs back to its step."""
        path = self.checkpoints.latest()
        if path is None:
            return False
        self.checkpoints.load(path, model)
        step = self.saved_step = step_of()
        if self.run.is_main:
            for cut in self._on_resume:
                cut(step)
        return True

    # ---------------------------------------------------------------- logging
    def log(self, split: str, step: int, logs: dict) -> None:
        """One record in metrics.jsonl and the trackers; ``on_step`` / ``on_evaluate`` are
        the loops' to call."""
        if self.run.is_main:
            record = {"step": step, "split": split, **logs, "time": time.time()}
            with open(self.run.dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        self.accelerator.log({f"{split}/{k}": v for k, v in logs.items()}, step=step)

    def _cut_metrics(self, step: int) -> None:
        """Steps after the checkpoint will be redone: drop their records (and a torn last
        line a crash left, saying so)."""
        from .guards import cut_metrics_log

        cut_metrics_log(self.run.dir / "metrics.jsonl", step, self.run.log)

    # ---------------------------------------------------------------- signals
    @contextlib.contextmanager
    def guard(self):
        """SIGINT/SIGTERM set a flag that the loop acts on at its next boundary (a second
        Ctrl-C stops at once)."""
        from .guards import on_signals

        def note(signum, frame):
            if self.signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.signal = signum
            self.run.log(f"{signal.Signals(signum).name}: saving a checkpoint at the next "
                         "step boundary (Ctrl-C again to stop at once)")

        with on_signals(note):
            yield

    def interrupted(self) -> bool:
        """Whether any process caught a signal. With several processes this is a collective:
        call it at the same boundaries (log/save/evaluate steps) on every process."""
        if self.accelerator.num_processes > 1:
            flag = torch.tensor(float(self.signal or 0), device=self.accelerator.device)
            flag = self.accelerator.reduce(flag, "max")
            if flag.item() and self.signal is None:
                self.signal = int(flag.item())
        return self.signal is not None

    def stop(self, step: int) -> Interrupted:
        """The exception that ends the run after the checkpoint at ``step`` was saved."""
        name = signal.Signals(self.signal).name
        return Interrupted(f"{name} at step {step}: checkpoint saved in "
                           f"{self.checkpoints.latest()}; `tlgen run --resume {self.run.dir}` "
                           "continues from it", 128 + self.signal)
