"""The reward-guided stage: REINVENT's staged (reinforcement) learning for any causal LM.

The agent starts as the (fine-tuned) backbone and the prior is a frozen copy of it. Each
step samples a batch from the agent, decodes it through the plugin (``decode``), scores
it (``reward``: scores in [0, 1]) and minimises REINVENT's DAP loss

    (log P_prior(x) + sigma * S(x) - log P_agent(x))^2

over the batch plus a few sequences replayed from a memory of the best ones. It stops at
``reward.max_steps``, at the oracle budget, or once a batch's mean score reaches
``reward.max_score`` (after ``min_steps``). Checkpoints hold the agent, optimizer, RNG,
replay memory, counters and ``run.state`` (the plugin's diversity memory), so a killed
stage resumes exactly. Every scored sample is written to ``scored.csv``.

Reads top to bottom: ``fit`` -> ``_step`` (sample, score, loss) -> ``save`` / ``load``.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import math
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .errors import PluginError, TlgenError
from .freeze import count_parameters
from .trainer import Trainer, TrainerState
from .types import Backbone, DataSplits, Rewards, TrainResult

SCORED = "scored.csv"


class RewardState(TrainerState):
    """Counters of the reward stage, saved in every checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0  # oracle calls so far


class ReplayMemory:
    """The best unique sequences seen so far (REINVENT's experience replay): token ids,
    their prior log-likelihood and score. Checkpointed."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: dict[str, tuple[float, list[int], float]] = {}

    def add(self, keys: list[str], ids: list[list[int]], prior: torch.Tensor,
            scores: torch.Tensor) -> None:
        for key, seq, p, s in zip(keys, ids, prior.tolist(), scores.tolist()):
            if s > 0 and (key not in self.items or self.items[key][0] < s):
                self.items[key] = (s, seq, p)
        best = sorted(self.items.items(), key=lambda kv: -kv[1][0])[: self.size]
        self.items = dict(best)

    def top(self, k: int = 10) -> list[float]:
        return sorted(s for s, _, _ in self.items.values())[-k:]

    def draw(self, n: int) -> list[tuple[float, list[int], float]]:
        """``n`` remembered sequences drawn uniformly (torch's RNG, so resume repeats it)."""
        values = list(self.items.values())
        if not values or not n:
            return []
        picks = torch.randperm(len(values))[:n].tolist()
        return [values[i] for i in picks]

    def state_dict(self) -> dict:
        return {"size": self.size, "items": self.items}

    def load_state_dict(self, state: dict) -> None:
        self.size, self.items = state["size"], state["items"]


class RewardTrainer(Trainer):
    """Reward-guided fine-tuning of ``backbone.model`` with the run's ``[reward]`` config.
    It has its own loop and optimizer, and shares the likelihood trainer's checkpoints
    (trainable weights only, atomic, full-disk errors), signal handling and logging."""

    def __init__(self, run, backbone: Backbone, data: DataSplits) -> None:  # noqa: D107
        self._bind(run, run.config.reward, backbone, data, RewardState())
        model = backbone.model
        config = getattr(model, "config", None)
        self.bos = getattr(config, "bos_token_id", None)
        self.eos = getattr(config, "eos_token_id", None)
        if self.bos is None or self.eos is None or not hasattr(model, "generate"):
            raise TlgenError("train.mode = reward needs a causal LM backbone with generate() and "
                             "bos/eos token ids in its config")
        budget = self.cfg.budget
        if budget is not None and budget < self.cfg.batch_size:
            raise TlgenError(f"config key 'reward.budget': {budget} oracle calls is less than one "
                             f"batch (reward.batch_size = {self.cfg.batch_size})")
        self.prior = copy.deepcopy(model).eval().requires_grad_(False)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise TlgenError("no parameter is trainable: check freeze.strategy")
        fused = self.accelerator.device.type in ("cuda", "cpu")
        optimizer = torch.optim.Adam(params, lr=self.cfg.lr, fused=fused)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.prior.to(self.accelerator.device)
        self.memory = ReplayMemory(self.cfg.replay_size)
        from .trainer import PluginState, _keep_trainable

        self.accelerator.register_for_checkpointing(self.state, self.memory, PluginState(run))
        self.accelerator.register_save_state_pre_hook(_keep_trainable)
        context = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings",
                                                                  None)
        self.max_tokens = min(self.cfg.max_tokens, context or self.cfg.max_tokens)

    # ---------------------------------------------------------------- loop
    def fit(self) -> TrainResult:
        """Run the stage to a stopping rule, resuming from the last checkpoint."""
        resumed = self.load(self.latest_checkpoint())
        if not resumed:
            (self.run.dir / SCORED).unlink(missing_ok=True)
        trainable, total = count_parameters(self.model)
        self.run.log(f"reward stage: {trainable:,} / {total:,} parameters learn; sigma "
                     f"{self.cfg.sigma:g}, batch {self.cfg.batch_size}"
                     + (f"; resumed at step {self.state.step}" if resumed else ""))
        bar = tqdm(total=self.cfg.max_steps, initial=self.state.step, desc="reward",
                   disable=not self.run.is_main, dynamic_ncols=True)
        start = time.perf_counter()
        with self._catch_signals(), contextlib.closing(bar):
            while not self._done():
                logs = self._step()
                self.state.step += 1
                bar.update(1)
                bar.set_postfix(score=f"{logs['score']:.3f}", valid=f"{logs['valid']:.2f}",
                                nll=f"{logs['agent_nll']:.1f}")
                if self.state.step % self.cfg.log_every == 0 or self._done():
                    self._log("reward", logs)
                    self.run.hooks.on_step(run=self.run, step=self.state.step, logs=logs)
                interrupted = self._interrupted()
                if self.state.step % self.cfg.save_every == 0 or self._done() or interrupted:
                    self.state.train_seconds += time.perf_counter() - start
                    start = time.perf_counter()
                    self.save()
                if interrupted:
                    self._raise_interrupted()
            if self.saved_step != self.state.step:
                self.save()
        self.accelerator.wait_for_everyone()
        model = self.accelerator.unwrap_model(self.model)
        summary = {"steps": self.state.step, "oracle_calls": self.state.calls,
                   "train_seconds": round(self.state.train_seconds, 2),
                   "top10_score": _mean(self.memory.top()),
                   "trainable_params": trainable, "total_params": total}
        return TrainResult(backbone=dataclasses.replace(self.backbone, model=model), summary=summary)

    def _done(self) -> bool:
        cfg, state = self.cfg, self.state
        if state.step >= cfg.max_steps or (cfg.budget and state.calls >= cfg.budget):
            return True
        last = getattr(self, "last_score", None)
        return bool(cfg.max_score and last is not None and state.step >= cfg.min_steps
                    and last >= cfg.max_score)

    def _step(self) -> dict:
        """Sample, score, and one DAP update on the batch plus replayed sequences."""
        ids = self.sample_ids(self.cfg.batch_size)
        samples = self.run.call("decode", backbone=self.backbone, ids=ids)
        rewards = self.run.call("reward", backbone=self.backbone, data=self.data,
                                samples=samples, step=self.state.step)
        scores = _checked(rewards, samples)
        replay = self.memory.draw(self.cfg.replay_batch)
        every = ids + [seq for _, seq, _ in replay]
        batch, mask = _pad(every, self.eos, self.accelerator.device)
        self.model.train()
        agent = sequence_logp(self.model, batch, mask)
        with torch.no_grad():
            prior = sequence_logp(self.prior, batch[: len(ids)], mask[: len(ids)])
        target_prior = torch.cat([prior, torch.tensor([p for _, _, p in replay],
                                                      device=prior.device)])
        target_score = torch.cat([scores.to(prior.device),
                                  torch.tensor([s for s, _, _ in replay], device=prior.device)])
        augmented = target_prior + self.cfg.sigma * target_score
        loss = (augmented - agent).pow(2).mean()
        if not torch.isfinite(loss):
            raise TlgenError(f"reward stage stopped at step {self.state.step + 1}: the loss became "
                             f"non-finite; the last checkpoint is intact; lower reward.lr")
        self.accelerator.backward(loss)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.memory.add([str(s) for s in samples], ids, prior, scores)
        self.state.calls += len(samples) if rewards.calls is None else rewards.calls
        self.last_score = float(scores.mean())
        agent_nll = -agent[: len(ids)].detach()
        self._write_scored(samples, agent_nll, -prior, scores, rewards.components)
        valid = rewards.valid if rewards.valid is not None else [True] * len(samples)
        logs = {"loss": loss.item(), "score": self.last_score,
                "valid": sum(valid) / len(valid),
                "duplicates": 1 - len(set(map(str, samples))) / len(samples),
                "agent_nll": agent_nll.mean().item(), "prior_nll": (-prior).mean().item(),
                "top10": _mean(self.memory.top()), "oracle_calls": self.state.calls}
        logs.update({f"component/{k}": _mean(v) for k, v in rewards.components.items()})
        return logs

    @torch.no_grad()
    def sample_ids(self, n: int) -> list[list[int]]:
        """``n`` sequences from the agent, from BOS up to and including EOS (or the cap)."""
        model = self.accelerator.unwrap_model(self.model)
        model.eval()
        start = torch.full((n, 1), self.bos, dtype=torch.long, device=self.accelerator.device)
        out = model.generate(input_ids=start, attention_mask=torch.ones_like(start),
                             do_sample=True, top_k=0, top_p=1.0,
                             temperature=self.cfg.temperature,
                             max_new_tokens=self.max_tokens - 1, eos_token_id=self.eos,
                             pad_token_id=self.eos)
        rows = []
        for row in out.tolist():
            end = row.index(self.eos, 1) + 1 if self.eos in row[1:] else len(row)
            rows.append(row[:end])
        return rows

    def _write_scored(self, samples: list, agent_nll: torch.Tensor, prior_nll: torch.Tensor,
                      scores: torch.Tensor, components: dict[str, list[float]]) -> None:
        """Append this step's samples to scored.csv (step, sample, NLLs, score, components)."""
        if not self.run.is_main:
            return
        path = self.run.dir / SCORED
        new = not path.is_file()
        with open(path, "a", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(["step", "sample", "agent_nll", "prior_nll", "score",
                                 *components])
            for i, sample in enumerate(samples):
                writer.writerow([self.state.step + 1, str(sample), f"{agent_nll[i]:.4f}",
                                 f"{prior_nll[i]:.4f}", f"{scores[i]:.4f}",
                                 *(f"{v[i]:.4g}" for v in components.values())])

    def _raise_interrupted(self) -> None:
        import signal

        from .trainer import Interrupted

        name = signal.Signals(self.signal).name
        raise Interrupted(f"{name} at step {self.state.step}: checkpoint saved in "
                          f"{self.latest_checkpoint()}; `tlgen run --resume {self.run.dir}` "
                          "continues from it", 128 + self.signal)

    def load(self, path: Path | None) -> bool:
        """Restore the stage and cut scored.csv back to the checkpoint's step."""
        if not super().load(path):
            return False
        scored = self.run.dir / SCORED
        if self.run.is_main and scored.is_file():
            with open(scored, newline="", encoding="utf-8") as fh:
                rows = list(csv.reader(fh))
            kept = rows[:1] + [r for r in rows[1:] if int(r[0]) <= self.state.step]
            with open(scored, "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows(kept)
        return True


def sequence_logp(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log P(sequence) under ``model``: the sum of its tokens' log-probabilities after BOS."""
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    return (logp * mask[:, 1:]).sum(1)


def _pad(rows: list[list[int]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids.to(device), mask.to(device)


def _checked(rewards: Rewards, samples: list) -> torch.Tensor:
    """The scores as a tensor, after checking the reward hook kept its contract."""
    scores = torch.tensor([float(s) for s in rewards.scores], dtype=torch.float32)
    if len(scores) != len(samples):
        raise PluginError(f"hook 'reward' returned {len(scores)} scores for {len(samples)} samples")
    bad = ~torch.isfinite(scores) | (scores < 0) | (scores > 1)
    if bad.any():
        i = int(bad.nonzero()[0])
        raise PluginError(f"hook 'reward' scored sample {samples[i]!r} {scores[i].item()}; "
                          "scores must be finite and in [0, 1]")
    for name, values in rewards.components.items():
        if len(values) != len(samples):
            raise PluginError(f"hook 'reward': component {name!r} has {len(values)} values for "
                              f"{len(samples)} samples")
    return scores


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan
