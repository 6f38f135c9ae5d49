"""The shared trainer: one loop for every plugin, on Hugging Face Accelerate.

The same code runs on CPU, one GPU, and several processes (``accelerate launch`` /
``torchrun``, DDP or FSDP as Accelerate is configured). A plugin supplies only the
loss (the ``loss`` hook). The trainer owns the optimizer and LR schedule, mixed
precision, gradient accumulation and clipping, length-bucketed batches, periodic
evaluation with early stopping (and the best weights kept), atomic checkpoints with
exact resume, a checkpoint on SIGINT/SIGTERM, the stop on a non-finite loss,
throughput and MFU, the progress bar and metrics.jsonl.

Losses and counts stay on the device between log lines (no host sync per micro-batch,
as in nanoGPT); a step's loss is the mean over every real token (or item) of its
micro-batches on every process, so batches of different sizes weigh right.

Reads top to bottom: ``fit`` -> ``_step`` / ``evaluate`` / ``save`` / ``load``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import json
import math
import os
import shutil
import signal
import time
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, Iterator

import torch
from tqdm.auto import tqdm
from transformers import get_scheduler

from . import guards
from .data import BucketBatchSampler
from .errors import TlgenError
from .freeze import count_parameters
from .types import Backbone, DataSplits, TrainResult, count_items

BEST = "best"


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; the trainer saved a checkpoint at the current step."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class TrainerState:
    """Counters saved in every checkpoint so that a resumed run continues exactly."""

    def __init__(self) -> None:
        self.step = 0
        self.epoch = 0
        self.batches_in_epoch = 0
        self.tokens = 0
        self.best_val = math.inf
        self.best_step = 0
        self.evals_without_improvement = 0
        self.train_seconds = 0.0
        self.window = [0.0, 0.0, 0.0]  # since the last log line: loss x count, count, all processes' count

    def state_dict(self) -> dict:
        return dict(self.__dict__)

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


class PluginState:
    """``run.state``, the plugin's own per-run values, as a checkpointed object."""

    def __init__(self, run) -> None:
        self.run = run

    def state_dict(self) -> dict:
        return dict(self.run.state)

    def load_state_dict(self, state: dict) -> None:
        self.run.state.clear()
        self.run.state.update(state)


class Trainer:
    """Trains ``backbone.model`` on ``data`` with the run's ``[train]`` config."""

    def __init__(self, run, backbone: Backbone, data: DataSplits) -> None:
        self._bind(run, run.config.train, backbone, data, TrainerState())
        if len(data.train) == 0:
            raise TlgenError("the training set is empty: check the [data] section and its files")

        model = backbone.model
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise TlgenError("no parameter is trainable: check freeze.strategy")
        if self.cfg.gradient_checkpointing:
            if not hasattr(model, "gradient_checkpointing_enable"):
                raise TlgenError(f"train.gradient_checkpointing: {type(model).__name__} has no "
                                 "gradient_checkpointing_enable(); turn the option off")
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if self.cfg.compile:
            model.compile()  # in place: parameter names (and checkpoints) stay the same
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": self.cfg.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        fused = self.accelerator.device.type in ("cuda", "cpu")  # one kernel per step, not a loop
        self.optimizer = torch.optim.AdamW(groups, lr=self.cfg.lr, betas=(0.9, 0.95), fused=fused)
        self.scheduler = get_scheduler(
            self.cfg.schedule if self.cfg.schedule != "constant" else "constant_with_warmup",
            self.optimizer,
            num_warmup_steps=self.cfg.warmup_steps,
            num_training_steps=self.cfg.max_steps,
        )
        lengths = data.lengths if (data.lengths and self.cfg.bucket_by_length) else [1] * len(data.train)
        self.sampler = BucketBatchSampler(lengths, self.cfg.batch_size, seed=run.config.seed)
        pin = self.cfg.pin_memory and self.accelerator.device.type == "cuda"
        train_loader = torch.utils.data.DataLoader(
            data.train, batch_sampler=self.sampler, collate_fn=data.collate_fn,
            num_workers=self.cfg.num_workers, pin_memory=pin,
            persistent_workers=self.cfg.num_workers > 0,
            # its own generator: creating an iterator must not draw from the global RNG,
            # or a resumed run's dropout masks would differ from the uninterrupted run's
            generator=torch.Generator().manual_seed(run.config.seed),
        )
        self.model, self.optimizer, self.train_loader = self.accelerator.prepare(
            model, self.optimizer, train_loader
        )
        self.val_loader = None
        if data.validation is not None and len(data.validation) > 0:
            val_loader = torch.utils.data.DataLoader(
                data.validation, batch_size=self.cfg.batch_size, collate_fn=data.collate_fn,
                pin_memory=pin)
            self.val_loader = self.accelerator.prepare(val_loader)
        # The scheduler is stepped by hand once per optimizer step (not per process).
        self.accelerator.register_for_checkpointing(self.scheduler, self.state, PluginState(run))
        self.accelerator.register_save_state_pre_hook(_keep_trainable)
        self.flops_per_unit = 6 * count_parameters(self.model)[1] if data.unit == "tokens" else None
        self.peak_flops = peak_flops(self.accelerator.device, self.accelerator.mixed_precision)

    def _bind(self, run, cfg, backbone: Backbone, data: DataSplits, state: TrainerState) -> None:
        """What every loop on this machinery holds (the reward stage's too)."""
        self.run, self.cfg, self.backbone, self.data = run, cfg, backbone, data
        self.accelerator = run.accelerator
        self.state = state
        self.checkpoints = run.dir / "checkpoints"
        self.signal: int | None = None
        self.saved_step = -1

    # ---------------------------------------------------------------- loop
    def fit(self) -> TrainResult:
        """Train to ``max_steps`` (or early stop), resuming from the last checkpoint."""
        resumed = self.load(self.latest_checkpoint())
        trainable, total = count_parameters(self.model)
        self.run.log(f"trainable parameters: {trainable:,} / {total:,} "
                     f"({100 * trainable / total:.2f}%)" + (f"; resumed at step {self.state.step}"
                                                          if resumed else ""))
        bar = tqdm(total=self.cfg.max_steps, initial=self.state.step, desc="train",
                   disable=not self.run.is_main, dynamic_ncols=True)
        device = self.accelerator.device
        self.window = torch.tensor(self.state.window, device=device)  # since the last log line
        self.window_start = time.perf_counter()
        self.first_bad = torch.zeros((), dtype=torch.long, device=device)
        stop = self.state.step >= self.cfg.max_steps
        with self._catch_signals(), contextlib.closing(bar):  # an error prints on its own line
            while not stop:
                for batches in self._epoch_steps():
                    self._step(batches)
                    self.state.step += 1
                    bar.update(1)
                    stop = self._after_step(bar)
                    if stop:
                        break
                else:
                    self.state.epoch += 1
                    self.state.batches_in_epoch = 0
            if self.saved_step != self.state.step:  # known on every process, unlike the folder
                self.save()  # early stop between checkpoints
        self._restore_best()
        self.accelerator.wait_for_everyone()
        model = self.accelerator.unwrap_model(self.model)
        summary = {"steps": self.state.step, self.data.unit: self.state.tokens,
                   "train_seconds": round(self.state.train_seconds, 2),
                   f"{self.data.unit}_per_s": self.state.tokens / max(self.state.train_seconds, 1e-9),
                   "best_val_loss": self.state.best_val if math.isfinite(self.state.best_val) else None,
                   "trainable_params": trainable, "total_params": total}
        return TrainResult(backbone=dataclasses.replace(self.backbone, model=model), summary=summary)

    def _epoch_steps(self) -> Iterator[list[dict]]:
        """This epoch's remaining optimizer steps, each a list of ``grad_accum`` micro-batches
        (fewer for the epoch's last step)."""
        loader = self.train_loader
        if self.state.batches_in_epoch:
            loader = self.accelerator.skip_first_batches(loader, self.state.batches_in_epoch)
        loader.set_epoch(self.state.epoch)  # Accelerate's loaders count epochs themselves
        self.sampler.set_epoch(self.state.epoch)
        if hasattr(self.data.train, "set_epoch"):  # per-epoch augmentation, resumable
            self.data.train.set_epoch(self.state.epoch)
        group: list[dict] = []
        for batch in loader:
            group.append(batch)
            if len(group) == self.cfg.grad_accum:
                yield group
                group = []
        if group:
            yield group

    def _step(self, batches: list[dict]) -> None:
        """One optimizer step over its micro-batches, with no host sync: each micro-batch's
        mean loss is weighted by its share of the step's real tokens on all processes."""
        counts = [count_items(b, self.data.count_key).to(self.accelerator.device).float()
                  for b in batches]
        total = torch.stack(counts).sum()
        world = self.accelerator.num_processes
        if world > 1:  # one collective per optimizer step, none per micro-batch
            total = self.accelerator.reduce(total, "sum")
        self.model.train()
        step_loss = torch.zeros((), device=self.accelerator.device)
        for i, (batch, count) in enumerate(zip(batches, counts)):
            last = i == len(batches) - 1
            sync = contextlib.nullcontext() if last else self.accelerator.no_sync(self.model)
            with sync:
                with self.accelerator.autocast():
                    loss = self.run.hooks.loss(run=self.run, backbone=self.backbone,
                                               model=self.model, batch=batch)
                # DDP averages gradients over processes, hence the factor `world`
                self.accelerator.backward(loss * (count * world / total.clamp(min=1)))
            step_loss = step_loss + loss.detach().float() * count
        self.window += torch.stack([step_loss, torch.stack(counts).sum(), total])
        bad = ~torch.isfinite(step_loss)
        if self.cfg.clip:
            norm = self.accelerator.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
            bad = bad | ~torch.isfinite(norm)
        self.first_bad = torch.where((self.first_bad == 0) & bad, self.state.step + 1,
                                     self.first_bad)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.batches_in_epoch += len(batches)

    def _after_step(self, bar) -> bool:
        """Log, evaluate, save and act on a signal at the step's boundaries; True to stop.
        The device is read (a host sync) only here, at these boundaries."""
        step, cfg = self.state.step, self.cfg
        last = step >= cfg.max_steps
        evaluate = step % cfg.eval_every == 0 or last
        save = step % cfg.save_every == 0 or last
        logged = step % cfg.log_every == 0 or last
        if logged or evaluate or save:
            self._check_finite()
        if logged:
            self._log_window(bar)
        stop = False
        paused = time.perf_counter()  # evaluation and saving don't count as training time
        if evaluate:
            stop = self._evaluate_and_check()
        interrupted = self._interrupted()
        if interrupted:
            self._check_finite()  # never checkpoint NaN weights
        if save or interrupted:
            self.save()
        self.window_start += time.perf_counter() - paused
        if interrupted:
            name = signal.Signals(self.signal).name
            raise Interrupted(f"{name} at step {step}: checkpoint saved in "
                              f"{self.latest_checkpoint()}; `tlgen run --resume {self.run.dir}` "
                              "continues from it", 128 + self.signal)
        return stop or last

    def _log_window(self, bar) -> None:
        """One log line from the device-side window: mean loss, throughput, MFU."""
        loss_sum, count, everywhere = self.window.tolist()
        elapsed = time.perf_counter() - self.window_start
        self.state.train_seconds += elapsed
        self.state.tokens += int(round(everywhere))
        unit = self.data.unit
        logs = {"loss": loss_sum / max(count, 1e-9), "lr": self.scheduler.get_last_lr()[0],
                unit: self.state.tokens, f"{unit}_per_s": everywhere / max(elapsed, 1e-9),
                "epoch": self.state.epoch}
        if self.flops_per_unit and self.peak_flops:
            world = self.accelerator.num_processes
            logs["mfu"] = self.flops_per_unit * logs[f"{unit}_per_s"] / (self.peak_flops * world)
        self._log("train", logs)
        bar.set_postfix(loss=f"{logs['loss']:.3f}", **{f"{unit[:3]}/s": f"{logs[f'{unit}_per_s']:.0f}"},
                        **({"mfu": f"{logs['mfu']:.1%}"} if "mfu" in logs else {}))
        self.run.hooks.on_step(run=self.run, step=self.state.step, logs=logs)
        self.window.zero_()
        self.window_start = time.perf_counter()

    def _check_finite(self) -> None:
        """Stop with one line if the loss or gradient became NaN/inf, before any save."""
        first = int(self.first_bad.item())
        if first:
            last = self.latest_checkpoint()
            kept = f"the last checkpoint ({last.name}) is intact" if last else "nothing was saved"
            raise TlgenError(f"training stopped at step {self.state.step}: the loss or gradient "
                             f"became non-finite (NaN/inf) at step {first}; {kept}; lower "
                             "train.lr or check the data")

    # ---------------------------------------------------------------- signals
    @contextlib.contextmanager
    def _catch_signals(self):
        """SIGINT/SIGTERM set a flag; the loop saves a checkpoint at the step boundary."""
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def note(signum, frame):
            if self.signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C: stop now
            self.signal = signum
            self.run.log(f"{signal.Signals(signum).name}: saving a checkpoint at the end of "
                         "this step (Ctrl-C again to stop at once)")

        previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _interrupted(self) -> bool:
        """Whether any process caught a signal (agreed across processes)."""
        if self.accelerator.num_processes > 1:
            flag = torch.tensor(float(self.signal or 0), device=self.accelerator.device)
            flag = self.accelerator.reduce(flag, "max")
            if flag.item() and self.signal is None:
                self.signal = int(flag.item())
        return self.signal is not None

    # ---------------------------------------------------------------- evaluation
    def evaluate(self) -> float | None:
        """Mean validation loss over all processes, weighted by real tokens (or items)."""
        if self.val_loader is None:
            return None
        total = loss_sums(self.run, self.backbone, self.model, self.val_loader,
                          self.data.count_key, self.cfg.eval_batches)
        total = self.accelerator.reduce(total, "sum")
        return (total[0] / total[1].clamp(min=1e-9)).item()

    def _evaluate_and_check(self) -> bool:
        """Evaluate, log, keep the best weights, and say whether early stopping ends the run."""
        val = self.evaluate()
        if val is None:
            return False
        if not math.isfinite(val):
            raise TlgenError(f"training stopped at step {self.state.step}: the validation loss "
                             "is non-finite (NaN/inf); lower train.lr or check the data")
        patience = self.cfg.early_stopping_patience
        if val < self.state.best_val:
            self.state.best_val, self.state.best_step = val, self.state.step
            self.state.evals_without_improvement = 0
            if patience:
                self._save_best()
        else:
            self.state.evals_without_improvement += 1
        logs = {"val_loss": val, "best_val_loss": self.state.best_val}
        self._log("eval", logs)
        self.run.hooks.on_evaluate(run=self.run, step=self.state.step, logs=logs)
        if patience and self.state.evals_without_improvement >= patience:
            self.run.log(f"early stopping at step {self.state.step}: validation loss has not "
                         f"improved for {patience} evaluations (best {self.state.best_val:.4f} "
                         f"at step {self.state.best_step})")
            return True
        return False

    def _log(self, split: str, logs: dict) -> None:
        if self.run.is_main:
            record = {"step": self.state.step, "split": split, **logs, "time": time.time()}
            with open(self.run.dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        self.accelerator.log({f"{split}/{k}": v for k, v in logs.items()}, step=self.state.step)

    # ---------------------------------------------------------------- best weights
    def _save_best(self) -> None:
        """``checkpoints/best``: the trainable weights at the best validation loss."""
        from safetensors.torch import save_file

        if self.accelerator.is_main_process:
            model = self.accelerator.unwrap_model(self.model)
            state = {k: v.detach().cpu().contiguous() for k, v in trainable_state(model).items()}
            tmp = self.checkpoints / f".tmp-{BEST}"
            _fresh_dir(tmp)
            with _disk_errors(tmp, self.checkpoints / BEST):
                save_file(state, tmp / "model.safetensors")
                (tmp / "step.json").write_text(json.dumps({"step": self.state.step,
                                                           "val_loss": self.state.best_val}))
            shutil.rmtree(self.checkpoints / BEST, ignore_errors=True)
            os.replace(tmp, self.checkpoints / BEST)
        self.accelerator.wait_for_everyone()

    def _restore_best(self) -> None:
        """With early stopping on, end on the best weights, not the last (and say so)."""
        if not (self.cfg.early_stopping_patience and self.state.best_step) \
                or self.state.best_step == self.state.step:
            return
        from safetensors.torch import load_file

        path = self.checkpoints / BEST / "model.safetensors"
        model = self.accelerator.unwrap_model(self.model)
        model.load_state_dict(load_file(path, device=str(self.accelerator.device)), strict=False)
        self.run.log(f"restored the best weights: step {self.state.best_step}, validation loss "
                     f"{self.state.best_val:.4f} (the last step, {self.state.step}, was worse)")

    # ---------------------------------------------------------------- checkpoints
    def save(self) -> Path:
        """Write ``checkpoints/step-N`` atomically (temp dir, then rename); keep the last K.
        A failed write (a full disk) removes the temp dir and keeps the older checkpoints."""
        final = self.checkpoints / _step_name(self.state.step)
        tmp = self.checkpoints / f".tmp-{final.name}"
        self.state.window = self.window.tolist() if hasattr(self, "window") else [0.0] * 3
        if self.accelerator.is_main_process:
            _fresh_dir(tmp)
        self.accelerator.wait_for_everyone()
        with _disk_errors(tmp, final):
            self.accelerator.save_state(str(tmp))
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            for old in list_checkpoints(self.checkpoints)[: -self.cfg.keep_last]:
                shutil.rmtree(old, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        self.saved_step = self.state.step
        return final

    def latest_checkpoint(self) -> Path | None:
        found = list_checkpoints(self.checkpoints)
        return found[-1] if found else None

    def load(self, path: Path | None) -> bool:
        """Restore model, optimizer, scheduler, RNG, counters and ``run.state`` from ``path``."""
        if path is None:
            return False
        try:
            self.accelerator.load_state(str(path), strict=False)
            self.saved_step = self.state.step
        except Exception as exc:  # a truncated or foreign file: say which and what to do
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise TlgenError(f"checkpoint {path} is corrupted ({first}); delete that folder "
                             "to resume from the one before, or start a new run") from None
        log = self.run.dir / "metrics.jsonl"
        if self.run.is_main:  # steps after the checkpoint will be redone
            guards.cut_metrics_log(log, self.state.step, self.run.log)
        return True


# -------------------------------------------------------------------- shared helpers
@torch.no_grad()
def loss_sums(run, backbone: Backbone, model: torch.nn.Module, batches: Iterable[dict],
              count_key: str | None, limit: int | None = None) -> torch.Tensor:
    """``[sum of loss x count, count]`` over ``batches`` (on the device, no host sync):
    the one evaluation code for validation during training and held-out losses."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = torch.zeros(2, device=device)
    for i, batch in enumerate(batches):
        if limit and i >= limit:
            break
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        loss = run.hooks.loss(run=run, backbone=backbone, model=model, batch=batch)
        weight = count_items(batch, count_key).to(device).float()
        total += torch.stack([loss.float() * weight, weight])
    model.train(was_training)
    return total


def heldout_loss(run, backbone: Backbone, data: DataSplits, dataset) -> float:
    """Mean loss of ``dataset`` under ``backbone.model`` (one process, token-weighted)."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=run.config.train.batch_size,
                                         collate_fn=data.collate_fn)
    total = loss_sums(run, backbone, backbone.model, loader, data.count_key,
                      run.config.train.heldout_batches)
    return (total[0] / total[1].clamp(min=1e-9)).item()


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


def _keep_trainable(models, weights, output_dir) -> None:
    """Accelerate save hook: checkpoints hold the trainable weights, not the frozen base."""
    for i, model in enumerate(models):
        weights[i] = trainable_state(model, weights[i])


def peak_flops(device: torch.device, precision: str) -> float | None:
    """The device's peak FLOP/s for MFU: a table for common GPUs (dense bf16/fp16, else
    TF32); on a CPU the best of several timed fp32 matmuls at this process's current thread
    count (measured once per thread count: a process that changes it, as runs with
    different ``train.threads`` do, gets the peak of the threads it trains with)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        half = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12,
                "L40": 181e12, "4090": 165e12, "3090": 71e12, "V100": 125e12, "T4": 65e12}
        for key, value in half.items():
            if key in name:
                return value if precision in ("bf16", "fp16") else value / 2
        return None
    return _cpu_peak_flops(torch.get_num_threads())


@functools.lru_cache(maxsize=None)
def _cpu_peak_flops(threads: int) -> float:
    """The best of five timings of four 1024^2 fp32 matmuls (``threads``: the cache key)."""
    a = torch.full((1024, 1024), 0.5)  # not torch.randn: the global RNG is the run's
    torch.mm(a, a)
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(4):
            torch.mm(a, a)
        best = max(best, 4 * 2 * 1024**3 / (time.perf_counter() - start))
    return best


def best_weights(folder: Path) -> Path | None:
    path = Path(folder) / BEST / "model.safetensors"
    return path if path.is_file() else None


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints in ``folder``, oldest first (temp folders are ignored)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("step-"))


def _step_name(step: int) -> str:
    return f"step-{step:08d}"


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
        kept = f"the previous checkpoint {older[-1].name} is intact" if older else "no checkpoint was kept"
        what = f"the disk is full ({tmp.parent})" if full else text
        raise TlgenError(f"could not write checkpoint {final}: {what}; {kept}; free some "
                         "space and `tlgen run --resume` the run") from None
