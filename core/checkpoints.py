"""A run's checkpoints: ``checkpoints/step-N`` folders written atomically, the last K kept,
and ``checkpoints/best`` (the trainable weights at the best validation loss).

One store serves every loop (the likelihood trainer, the reward stage), ``Run`` (loading a
trained model) and ``tlgen.testing``. A checkpoint holds what Accelerate saves for the
objects a loop registered (model, optimizer, scheduler, RNG, counters, ``run.state``), with
the model cut down to its trainable weights: a LoRA run's checkpoint is its adapters.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections import OrderedDict
from pathlib import Path

import torch

from .errors import TlgenError

BEST = "best"
WEIGHTS = "model.safetensors"


class CheckpointStore:
    """The checkpoints of one run folder, written through ``accelerator``."""

    def __init__(self, folder: Path, accelerator, keep_last: int) -> None:
        self.folder = Path(folder)
        self.accelerator = accelerator
        self.keep_last = keep_last

    def all(self) -> list[Path]:
        return list_checkpoints(self.folder)

    def latest(self) -> Path | None:
        return latest_checkpoint(self.folder)

    def save(self, step: int) -> Path:
        """Write ``step-N`` atomically (temp folder, then rename) and keep the last K. A
        failed write (a full disk) removes the temp folder and keeps the older checkpoints."""
        acc = self.accelerator
        final = self.folder / f"step-{step:08d}"
        tmp = self.folder / f".tmp-{final.name}"
        if acc.is_main_process:
            _fresh_dir(tmp)
        acc.wait_for_everyone()
        with _disk_errors(tmp, final):
            acc.save_state(str(tmp))
        acc.wait_for_everyone()
        if acc.is_main_process:
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            for old in self.all()[: -self.keep_last]:
                shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        return final

    def load(self, path: Path, model: torch.nn.Module) -> None:
        """Restore everything registered from ``path``; a truncated file, or weights of
        another model, is one line saying which checkpoint and what to do."""
        check_weights_match(model, path / WEIGHTS)
        try:
            self.accelerator.load_state(str(path), strict=False)
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise TlgenError(f"checkpoint {path} is corrupted ({first}); delete that folder "
                             "to resume from the one before, or start a new run") from None

    def save_best(self, model: torch.nn.Module, step: int, val_loss: float) -> None:
        """``best/``: the trainable weights of ``model`` (unwrapped) and their step."""
        from safetensors.torch import save_file

        if self.accelerator.is_main_process:
            state = {k: v.detach().cpu().contiguous() for k, v in trainable_state(model).items()}
            tmp = self.folder / f".tmp-{BEST}"
            _fresh_dir(tmp)
            with _disk_errors(tmp, self.folder / BEST):
                save_file(state, tmp / WEIGHTS)
                (tmp / "step.json").write_text(json.dumps({"step": step, "val_loss": val_loss}))
            shutil.rmtree(self.folder / BEST, ignore_errors=True)
            os.replace(tmp, self.folder / BEST)
        self.accelerator.wait_for_everyone()

    def best(self) -> Path | None:
        return best_weights(self.folder)


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints in ``folder``, oldest first (temp folders are ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("step-"))


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint in ``folder`` (None: none yet)."""
    found = list_checkpoints(folder)
    return found[-1] if found else None


def best_weights(folder: Path) -> Path | None:
    path = Path(folder) / BEST / WEIGHTS
    return path if path.is_file() else None


def trained_weights(folder: Path) -> Path:
    """The weights a finished run stands for: the best ones where early stopping kept
    them, else the last checkpoint's."""
    found = list_checkpoints(folder)
    if not found:
        run_dir = Path(folder).parent
        raise TlgenError(f"{run_dir} has no checkpoint yet: run `tlgen run --resume {run_dir}`")
    return best_weights(folder) or found[-1] / WEIGHTS


def load_weights(model: torch.nn.Module, path: Path, device: str | None = None) -> None:
    """Load trainable weights saved by this store into ``model`` (the frozen base is
    rebuilt by the caller); weights of another model are refused, not skipped."""
    from safetensors.torch import load_file

    check_weights_match(model, path)
    state = load_file(path, device=device or "cpu")
    model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=False)


def weight_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes of a checkpoint's weights file, from its header only; a
    missing or unreadable file is one line naming the checkpoint and what to do."""
    from safetensors import safe_open

    if not path.is_file():
        raise TlgenError(f"checkpoint {path.parent} is incomplete (no {path.name}); delete that "
                         "folder to resume from the one before, or start a new run")
    try:
        with safe_open(str(path), framework="pt") as fh:
            return {k.removeprefix("module."): tuple(fh.get_slice(k).get_shape())
                    for k in fh.keys()}
    except Exception as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise TlgenError(f"checkpoint {path.parent} is corrupted ({path.name}: {first}); "
                         "delete that folder to resume from the one before, or start a new "
                         "run") from None


def check_weights_match(model: torch.nn.Module, path: Path) -> None:
    """The checkpoint holds exactly this model's trainable weights, in their shapes: a
    checkpoint of another model (or run) would load nothing under a non-strict load and
    training would silently go on from the base weights."""
    found = weight_shapes(path)
    expected = {k.removeprefix("module."): tuple(v.shape)
                for k, v in trainable_state(model).items()}
    wrong = sorted(found.keys() ^ expected.keys()) or \
        sorted(k for k in found if found[k] != expected[k])
    if wrong:
        common = len(found.keys() & expected.keys())
        raise TlgenError(f"checkpoint {path} does not belong to this run's model: "
                         f"{common} of its {len(found)} tensors match the {len(expected)} it "
                         f"trains (e.g. {wrong[0][:80]!r}); restore the run's own checkpoint "
                         "or start a new run")


def trainable_state(model: torch.nn.Module, state: dict | None = None) -> OrderedDict:
    """The state dict without frozen parameters: what training changes (LoRA adapters and
    trainable modules, or the unfrozen blocks) plus buffers; a tied tensor appears once."""
    frozen = {n for n, p in model.named_parameters(remove_duplicate=False) if not p.requires_grad}
    kept, seen = OrderedDict(), set()
    for key, value in (model.state_dict() if state is None else state).items():
        if key in frozen or value.data_ptr() in seen:
            continue
        seen.add(value.data_ptr())
        kept[key] = value
    return kept


def keep_trainable(models, weights, output_dir) -> None:
    """Accelerate's save hook: checkpoints hold the trainable weights, not the frozen base."""
    for i, model in enumerate(models):
        weights[i] = trainable_state(model, weights[i])


def _fresh_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


@contextlib.contextmanager
def _disk_errors(tmp: Path, final: Path):
    """A failed checkpoint write becomes one line (a full disk named as such); the
    partial temp folder is removed so it is never taken for a checkpoint."""
    try:
        yield
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        text = str(exc).splitlines()[0] if str(exc) else repr(exc)
        full = (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "No space" in text \
            or shutil.disk_usage(tmp.parent).free < 1 << 20 or "unexpected pos" in text
        older = list_checkpoints(tmp.parent)
        kept = (f"the previous checkpoint {older[-1].name} is intact" if older
                else "no checkpoint was kept")
        what = f"the disk is full ({tmp.parent})" if full else text
        raise TlgenError(f"could not write checkpoint {final}: {what}; {kept}; free some "
                         "space and `tlgen run --resume` the run") from None
