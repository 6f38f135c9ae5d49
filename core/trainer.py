"""The shared trainer: one loop for every plugin, on Hugging Face Accelerate.

The same code runs on CPU, one GPU, and several processes (``accelerate launch`` /
``torchrun``, DDP or FSDP as Accelerate is configured). A plugin supplies only the
loss (the ``loss`` hook). The trainer owns the optimizer and LR schedule, mixed
precision, gradient accumulation and clipping, length-bucketed batches, periodic
evaluation with early stopping, atomic checkpoints with exact resume, throughput,
the progress bar and metrics.jsonl.

Reads top to bottom: ``fit`` -> ``_train_step`` / ``evaluate`` / ``save`` / ``load``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import get_scheduler

from .data import BucketBatchSampler
from .errors import TlgenError
from .freeze import count_parameters
from .types import Backbone, DataSplits


class TrainerState:
    """Counters saved in every checkpoint so that a resumed run continues exactly."""

    def __init__(self) -> None:
        self.step = 0
        self.epoch = 0
        self.batches_in_epoch = 0
        self.tokens = 0
        self.best_val = math.inf
        self.evals_without_improvement = 0
        self.train_seconds = 0.0

    def state_dict(self) -> dict:
        return dict(self.__dict__)

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


class Trainer:
    """Trains ``backbone.model`` on ``data`` with the run's ``[train]`` config."""

    def __init__(self, run, backbone: Backbone, data: DataSplits) -> None:
        self.run = run
        self.cfg = run.config.train
        self.backbone = backbone
        self.data = data
        self.accelerator = run.accelerator
        self.state = TrainerState()
        self.checkpoints = run.dir / "checkpoints"
        if len(data.train) == 0:
            raise TlgenError("the training set is empty: check the [data] section and its files")

        params = [p for p in backbone.model.parameters() if p.requires_grad]
        if not params:
            raise TlgenError("no parameter is trainable: check freeze.strategy")
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": self.cfg.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        fused = self.accelerator.device.type == "cuda"
        self.optimizer = torch.optim.AdamW(groups, lr=self.cfg.lr, betas=(0.9, 0.95), fused=fused)
        self.scheduler = get_scheduler(
            self.cfg.schedule if self.cfg.schedule != "constant" else "constant_with_warmup",
            self.optimizer,
            num_warmup_steps=self.cfg.warmup_steps,
            num_training_steps=self.cfg.max_steps,
        )
        lengths = data.lengths if (data.lengths and self.cfg.bucket_by_length) else [1] * len(data.train)
        self.sampler = BucketBatchSampler(lengths, self.cfg.batch_size, seed=run.config.seed)
        train_loader = torch.utils.data.DataLoader(
            data.train, batch_sampler=self.sampler, collate_fn=data.collate_fn,
            num_workers=self.cfg.num_workers,
            # its own generator: creating an iterator must not draw from the global RNG,
            # or a resumed run's dropout masks would differ from the uninterrupted run's
            generator=torch.Generator().manual_seed(run.config.seed),
        )
        self.model, self.optimizer, self.train_loader = self.accelerator.prepare(
            backbone.model, self.optimizer, train_loader
        )
        self.val_loader = None
        if data.validation is not None and len(data.validation) > 0:
            val_loader = torch.utils.data.DataLoader(
                data.validation, batch_size=self.cfg.batch_size, collate_fn=data.collate_fn
            )
            self.val_loader = self.accelerator.prepare(val_loader)
        # The scheduler is stepped by hand once per optimizer step (not per process).
        self.accelerator.register_for_checkpointing(self.scheduler, self.state)

    # ---------------------------------------------------------------- loop
    def fit(self) -> dict:
        """Train to ``max_steps`` (or early stop), resuming from the last checkpoint."""
        resumed = self.load(self.latest_checkpoint())
        trainable, total = count_parameters(self.model)
        self.run.log(f"trainable parameters: {trainable:,} / {total:,} "
                     f"({100 * trainable / total:.2f}%)" + (f"; resumed at step {self.state.step}"
                                                          if resumed else ""))
        bar = tqdm(total=self.cfg.max_steps, initial=self.state.step, desc="train",
                   disable=not self.run.is_main, dynamic_ncols=True)
        window_tokens, window_start, window_loss, window_n = 0, time.perf_counter(), 0.0, 0
        stop = self.state.step >= self.cfg.max_steps
        while not stop:
            loader = self.train_loader
            if self.state.batches_in_epoch:
                loader = self.accelerator.skip_first_batches(loader, self.state.batches_in_epoch)
            loader.set_epoch(self.state.epoch)  # Accelerate's loaders count epochs themselves
            self.sampler.set_epoch(self.state.epoch)
            if hasattr(self.data.train, "set_epoch"):  # per-epoch augmentation, resumable
                self.data.train.set_epoch(self.state.epoch)
            for batch in loader:
                loss, count = self._train_step(batch)
                self.state.batches_in_epoch += 1
                self.state.tokens += count
                window_tokens += count
                window_loss += loss
                window_n += 1
                if not self.accelerator.sync_gradients:
                    continue
                self.state.step += 1
                bar.update(1)
                if self.state.step % self.cfg.log_every == 0 or self.state.step == self.cfg.max_steps:
                    elapsed = time.perf_counter() - window_start
                    self.state.train_seconds += elapsed
                    logs = {"loss": window_loss / window_n, "lr": self.scheduler.get_last_lr()[0],
                            self.data.unit: self.state.tokens,
                            f"{self.data.unit}_per_s": window_tokens / max(elapsed, 1e-9),
                            "epoch": self.state.epoch}
                    self._log("train", logs)
                    bar.set_postfix(loss=f"{logs['loss']:.3f}",
                                    **{f"{self.data.unit[:3]}/s": f"{logs[f'{self.data.unit}_per_s']:.0f}"})
                    self.run.hooks.on_step(run=self.run, step=self.state.step, logs=logs)
                    window_tokens, window_start, window_loss, window_n = 0, time.perf_counter(), 0.0, 0
                paused = time.perf_counter()  # evaluation and saving don't count as training time
                if self.state.step % self.cfg.eval_every == 0 or self.state.step == self.cfg.max_steps:
                    stop = self._evaluate_and_check()
                if self.state.step % self.cfg.save_every == 0 or self.state.step == self.cfg.max_steps:
                    self.save()
                window_start += time.perf_counter() - paused
                if stop or self.state.step >= self.cfg.max_steps:
                    stop = True
                    break
            else:
                self.state.epoch += 1
                self.state.batches_in_epoch = 0
        if self.state.step % self.cfg.save_every and self.state.step != self.cfg.max_steps:
            self.save()  # early stop between checkpoints
        bar.close()
        self.accelerator.wait_for_everyone()
        self.backbone.model = self.accelerator.unwrap_model(self.model)
        return {"steps": self.state.step, self.data.unit: self.state.tokens,
                "train_seconds": round(self.state.train_seconds, 2),
                f"{self.data.unit}_per_s": self.state.tokens / max(self.state.train_seconds, 1e-9),
                "best_val_loss": self.state.best_val if math.isfinite(self.state.best_val) else None,
                "trainable_params": count_parameters(self.model)[0],
                "total_params": count_parameters(self.model)[1]}

    def _train_step(self, batch: dict) -> tuple[float, int]:
        """One micro-batch: forward, backward and (at the accumulation boundary) the step."""
        self.model.train()
        with self.accelerator.accumulate(self.model):
            with self.accelerator.autocast():
                loss = self.run.hooks.loss(run=self.run, model=self.model, batch=batch)
            self.accelerator.backward(loss)
            if self.accelerator.sync_gradients and self.cfg.clip:
                self.accelerator.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
            self.optimizer.step()
            if self.accelerator.sync_gradients:
                self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        key = self.data.count_key
        count = batch[key].sum() if key else torch.tensor(len(next(iter(batch.values()))))
        count = int(self.accelerator.reduce(count.to(self.accelerator.device), "sum").item())
        return loss.detach().float().item(), count

    # ---------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self) -> float | None:
        """Mean validation loss, weighted by tokens (or items), over all processes."""
        if self.val_loader is None:
            return None
        self.model.eval()
        total = torch.zeros(2, device=self.accelerator.device)
        for i, batch in enumerate(self.val_loader):
            if self.cfg.eval_batches and i >= self.cfg.eval_batches:
                break
            with self.accelerator.autocast():
                loss = self.run.hooks.loss(run=self.run, model=self.model, batch=batch)
            key = self.data.count_key
            weight = batch[key].sum().float() if key else torch.tensor(float(len(batch)))
            total += torch.stack([loss.float() * weight, weight.to(total.device)])
        total = self.accelerator.reduce(total, "sum")
        return (total[0] / total[1]).item()

    def _evaluate_and_check(self) -> bool:
        """Evaluate, log, and say whether early stopping should end the run."""
        val = self.evaluate()
        if val is None:
            return False
        improved = val < self.state.best_val
        if improved:
            self.state.best_val = val
            self.state.evals_without_improvement = 0
        else:
            self.state.evals_without_improvement += 1
        logs = {"val_loss": val, "best_val_loss": self.state.best_val}
        self._log("eval", logs)
        self.run.hooks.on_evaluate(run=self.run, step=self.state.step, logs=logs)
        patience = self.cfg.early_stopping_patience
        if patience and self.state.evals_without_improvement >= patience:
            self.run.log(f"early stopping at step {self.state.step}: validation loss has not "
                         f"improved for {patience} evaluations (best {self.state.best_val:.4f})")
            return True
        return False

    def _log(self, split: str, logs: dict) -> None:
        if self.run.is_main:
            record = {"step": self.state.step, "split": split, **logs, "time": time.time()}
            with open(self.run.dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        self.accelerator.log({f"{split}/{k}": v for k, v in logs.items()}, step=self.state.step)

    # ---------------------------------------------------------------- checkpoints
    def save(self) -> Path:
        """Write ``checkpoints/step-N`` atomically (temp dir, then rename); keep the last K."""
        final = self.checkpoints / f"step-{self.state.step:08d}"
        tmp = self.checkpoints / f".tmp-step-{self.state.step:08d}"
        if self.accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(str(tmp))
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            for old in list_checkpoints(self.checkpoints)[: -self.cfg.keep_last]:
                shutil.rmtree(old, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        return final

    def latest_checkpoint(self) -> Path | None:
        found = list_checkpoints(self.checkpoints)
        return found[-1] if found else None

    def load(self, path: Path | None) -> bool:
        """Restore model, optimizer, scheduler, RNG and counters from ``path``."""
        if path is None:
            return False
        try:
            self.accelerator.load_state(str(path))
        except Exception as exc:  # a truncated or foreign file: say which and what to do
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise TlgenError(f"checkpoint {path} is corrupted ({first}); delete that folder "
                             "to resume from the one before, or start a new run") from None
        log = self.run.dir / "metrics.jsonl"
        if self.run.is_main and log.is_file():  # steps after the checkpoint will be redone
            kept = [line for line in log.read_text().splitlines()
                    if line.strip() and json.loads(line)["step"] <= self.state.step]
            log.write_text("".join(line + "\n" for line in kept))
        return True


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints in ``folder``, oldest first (temp folders are ignored)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("step-"))
