"""The shared trainer: one likelihood loop for every plugin, on Hugging Face Accelerate.

The same code runs on CPU, one GPU, and several processes (``accelerate launch`` /
``torchrun``, DDP or FSDP as Accelerate is configured). A plugin supplies only the loss
(the ``loss`` hook). The trainer owns the optimizer and LR schedule, mixed precision,
gradient accumulation and clipping, length-bucketed batches, periodic evaluation with
early stopping (and the best weights kept) and the stop on a non-finite loss; its
``Session`` holds the checkpoints, signals and metrics log, its ``Meter`` the throughput.

A step's loss is the mean over every real token (or item) of its micro-batches on every
process, so batches of different sizes weigh right; losses stay on the device between log
lines (no host sync per micro-batch, as in nanoGPT).

Reads top to bottom: ``fit`` -> ``_step`` -> ``_after_step`` (log, evaluate, save).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from typing import Iterator

import torch
from tqdm.auto import tqdm
from transformers import get_scheduler

from .data import BucketBatchSampler
from .errors import TlgenError
from .freeze import count_parameters
from .heldout import loss_sums
from .kernels import fuse_activations
from .packing import training_collate
from .session import Session
from .throughput import Meter, peak_flops
from .types import Backbone, DataSplits, TrainResult, count_items


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
        self.window = [0.0, 0.0, 0.0]  # the meter's unlogged window at the checkpoint

    def state_dict(self) -> dict:
        return dict(self.__dict__)

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


class Trainer:
    """Trains ``backbone.model`` on ``data`` with the run's ``[train]`` config."""

    def __init__(self, run, backbone: Backbone, data: DataSplits) -> None:
        self.run, self.cfg, self.backbone, self.data = run, run.config.train, backbone, data
        self.accelerator = run.accelerator
        self.state = TrainerState()
        if len(data.train) == 0:
            raise TlgenError("the training set is empty: check the [data] section and its files")
        model = backbone.model
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise TlgenError("no parameter is trainable: check freeze.strategy")
        if self.cfg.gradient_checkpointing:  # a model without it was refused by preflight
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})
        if self.cfg.fused_activations:
            fuse_activations(model)
        if self.cfg.compile:
            model.compile()  # in place: parameter names (and checkpoints) stay the same
        decay = self.cfg.weight_decay
        groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": decay},
                  {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
        fused = self.accelerator.device.type in ("cuda", "cpu")  # one kernel per step, not a loop
        optimizer = torch.optim.AdamW(groups, lr=self.cfg.lr, betas=(0.9, 0.95), fused=fused)
        self.scheduler = get_scheduler(
            self.cfg.schedule if self.cfg.schedule != "constant" else "constant_with_warmup",
            optimizer, num_warmup_steps=self.cfg.warmup_steps,
            num_training_steps=self.cfg.max_steps)
        train_loader, val_loader = self._loaders(model)
        self.model, self.optimizer, self.train_loader = self.accelerator.prepare(
            model, optimizer, train_loader)
        self.val_loader = self.accelerator.prepare(val_loader) if val_loader else None
        self.session = Session(run, self.cfg.keep_last)
        # the scheduler is stepped by hand once per optimizer step (not per process)
        self.session.register(self.scheduler, self.state)
        device = self.accelerator.device
        flops = 6 * count_parameters(self.model)[1] if data.unit == "tokens" else None
        self.meter = Meter(device, flops, peak_flops(device, self.accelerator.mixed_precision),
                           self.accelerator.num_processes)
        self.first_bad = torch.zeros((), dtype=torch.long, device=device)

    def _loaders(self, model: torch.nn.Module):
        """The training loader (length-bucketed batches, packed rows with ``train.pack``)
        and the validation loader."""
        cfg, data, seed = self.cfg, self.data, self.run.config.seed
        lengths = data.lengths if (data.lengths and cfg.bucket_by_length) else [1] * len(data.train)
        self.sampler = BucketBatchSampler(lengths, cfg.batch_size, seed=seed)
        pin = cfg.pin_memory and self.accelerator.device.type == "cuda"
        collate = training_collate(cfg, data, model)
        train = torch.utils.data.DataLoader(
            data.train, batch_sampler=self.sampler, collate_fn=collate,
            num_workers=cfg.num_workers, pin_memory=pin, persistent_workers=cfg.num_workers > 0,
            # its own generator: creating an iterator must not draw from the global RNG,
            # or a resumed run's dropout masks would differ from the uninterrupted run's
            generator=torch.Generator().manual_seed(seed))
        val = None
        if data.validation is not None and len(data.validation) > 0:
            val = torch.utils.data.DataLoader(data.validation, batch_size=cfg.batch_size,
                                              collate_fn=collate, pin_memory=pin)
        return train, val

    # ---------------------------------------------------------------- loop
    def fit(self) -> TrainResult:
        """Train to ``max_steps`` (or early stop), resuming from the last checkpoint."""
        resumed = self.session.resume(self.model, lambda: self.state.step)
        trainable, total = count_parameters(self.model)
        self.run.log(f"trainable parameters: {trainable:,} / {total:,} "
                     f"({100 * trainable / total:.2f}%)" + (f"; resumed at step {self.state.step}"
                                                          if resumed else ""))
        bar = tqdm(total=self.cfg.max_steps, initial=self.state.step, desc="train",
                   disable=not self.run.is_main, dynamic_ncols=True)
        self.meter.restore(self.state.window)
        stop = self.state.step >= self.cfg.max_steps
        with self.session.guard(), contextlib.closing(bar):  # an error prints on its own line
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
            if self.session.saved_step != self.state.step:  # known on every process
                self._save()  # early stop between checkpoints
        self._restore_best()
        self.accelerator.wait_for_everyone()
        model = self.accelerator.unwrap_model(self.model)
        unit, seconds, best = self.data.unit, self.state.train_seconds, self.state.best_val
        summary = {"steps": self.state.step, unit: self.state.tokens,
                   "train_seconds": round(seconds, 2),
                   f"{unit}_per_s": self.state.tokens / max(seconds, 1e-9),
                   "best_val_loss": best if math.isfinite(best) else None,
                   "trainable_params": trainable, "total_params": total}
        trained = dataclasses.replace(self.backbone, model=model)
        return TrainResult(backbone=trained, summary=summary)

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
        device = self.accelerator.device
        counts = [count_items(b, self.data.count_key).to(device).float() for b in batches]
        total = torch.stack(counts).sum()
        world = self.accelerator.num_processes
        if world > 1:  # one collective per optimizer step, none per micro-batch
            total = self.accelerator.reduce(total, "sum")
        self.model.train()
        step_loss = torch.zeros((), device=device)
        for i, (batch, count) in enumerate(zip(batches, counts)):
            last = i == len(batches) - 1
            with contextlib.nullcontext() if last else self.accelerator.no_sync(self.model):
                with self.accelerator.autocast():
                    loss = self.run.call("loss", backbone=self.backbone, model=self.model,
                                         batch=batch, training=True)
                # DDP averages gradients over processes, hence the factor `world`
                self.accelerator.backward(loss * (count * world / total.clamp(min=1)))
            step_loss = step_loss + loss.detach().float() * count
        self.meter.add(step_loss, torch.stack(counts).sum(), total)
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
        The device is read (a host sync, a collective) only here, at these boundaries."""
        step, cfg = self.state.step, self.cfg
        last = step >= cfg.max_steps
        evaluate = step % cfg.eval_every == 0 or last
        save = step % cfg.save_every == 0 or last
        logged = step % cfg.log_every == 0 or last
        single = self.accelerator.num_processes == 1  # a signal is then read for free
        if not (logged or evaluate or save or (single and self.session.signal is not None)):
            return False
        self._check_finite()  # never log, keep or checkpoint NaN weights
        if logged:
            self._log_window(bar)
        paused = time.perf_counter()  # evaluation and saving don't count as training time
        stop = self._evaluate_and_check() if evaluate else False
        interrupted = self.session.interrupted()
        if save or interrupted:
            self._save()
        self.meter.pause(time.perf_counter() - paused)
        if interrupted:
            raise self.session.stop(step)
        return stop or last

    def _log_window(self, bar) -> None:
        """One log line from the meter's window: mean loss, throughput, MFU."""
        loss, everywhere, rate, mfu, seconds = self.meter.read()
        self.state.train_seconds += seconds
        self.state.tokens += int(round(everywhere))
        unit = self.data.unit
        logs = {"loss": loss, "lr": self.scheduler.get_last_lr()[0], unit: self.state.tokens,
                f"{unit}_per_s": rate, "epoch": self.state.epoch}
        if mfu is not None:
            logs["mfu"] = mfu
        self.session.log("train", self.state.step, logs)
        bar.set_postfix(loss=f"{loss:.3f}", **{f"{unit}/s": f"{rate:.0f}"},
                        **({"mfu": f"{mfu:.1%}"} if mfu is not None else {}))
        self.run.call("on_step", step=self.state.step, logs=logs)

    def _check_finite(self) -> None:
        """Stop with one line if the loss or gradient became NaN/inf, before any save."""
        first = int(self.first_bad.item())
        if first:
            last = self.session.checkpoints.latest()
            kept = f"the last checkpoint ({last.name}) is intact" if last else "nothing was saved"
            raise TlgenError(f"training stopped at step {self.state.step}: the loss or gradient "
                             f"became non-finite (NaN/inf) at step {first}; {kept}; lower "
                             "train.lr or check the data")

    def _save(self) -> None:
        self.state.window = self.meter.state()
        self.session.save(self.state.step)

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
        patience, state = self.cfg.early_stopping_patience, self.state
        if val < state.best_val:
            state.best_val, state.best_step = val, state.step
            state.evals_without_improvement = 0
            if patience:
                self.session.checkpoints.save_best(self.accelerator.unwrap_model(self.model),
                                                   state.step, val)
        else:
            state.evals_without_improvement += 1
        logs = {"val_loss": val, "best_val_loss": state.best_val}
        self.session.log("eval", state.step, logs)
        self.run.call("on_evaluate", step=state.step, logs=logs)
        if patience and state.evals_without_improvement >= patience:
            self.run.log(f"early stopping at step {state.step}: validation loss has not "
                         f"improved for {patience} evaluations (best {state.best_val:.4f} "
                         f"at step {state.best_step})")
            return True
        return False

    def _restore_best(self) -> None:
        """With early stopping on, end on the best weights, not the last (and say so)."""
        state = self.state
        if not (self.cfg.early_stopping_patience and state.best_step) \
                or state.best_step == state.step:
            return
        from .checkpoints import load_weights

        load_weights(self.accelerator.unwrap_model(self.model), self.session.checkpoints.best(),
                     device=str(self.accelerator.device))
        self.run.log(f"restored the best weights: step {state.best_step}, validation loss "
                     f"{state.best_val:.4f} (the last step, {state.step}, was worse)")
