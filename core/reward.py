"""The reward-guided stage: REINVENT's staged (reinforcement) learning for any causal LM.

The agent starts as the (fine-tuned) backbone and the prior is a frozen copy of it. Each
step samples a batch from the agent, decodes it through the plugin (``decode``), scores
it (``reward``: scores in [0, 1]) and minimises REINVENT's DAP loss

    (log P_prior(x) + sigma * S(x) - log P_agent(x))^2  -  penalty / log P_agent(x)

over the batch's distinct sequences plus a few replayed from a memory of the best ones
(drawn in proportion to their score), with REINVENT's penalty on sequences the agent finds
too likely (``likelihood_penalty``, 5,000 in REINVENT: it holds off collapse). It stops on
the first rule met: the oracle budget spent, a stall (the top-10 not improved for
``stall_calls`` calls, or fewer than ``stall_new`` new samples a step for ``stall_steps``
steps), a step cap the user set, or a batch's mean score reaching ``max_score``; which one is
logged and in the summary (``stopped``), beside the oracle calls, steps and seconds. When the
agent collapses (new samples per step below ``collapse_below`` of the batch for
``collapse_steps`` steps) ``reward.explore`` keeps it exploring: a higher sampling
temperature while it lasts, or a restart from the prior that keeps the replay memory.
Checkpoints hold the agent, optimizer, RNG,
replay memory, counters and ``run.state`` (the plugin's diversity memory), so a killed
stage resumes exactly. Every scored sample is written to ``scored.csv``.

Reads top to bottom: ``fit`` -> ``_step`` (sample, score, loss).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import math
import time

import torch
from tqdm.auto import tqdm

from .errors import PluginError, TlgenError
from .freeze import count_parameters
from .session import Session
from .types import Backbone, DataSplits, Rewards, TrainResult

SCORED = "scored.csv"


class RewardState:
    """Counters of the reward stage, saved in every checkpoint."""

    def __init__(self) -> None:
        self.step = 0
        self.calls = 0  # oracle calls so far
        self.train_seconds = 0.0
        self.temperature: float | None = None  # the sampling temperature now (explore)
        self.collapsed = 0  # steps in a row with few new samples (below collapse_below)
        self.few_new = 0  # steps in a row below stall_new
        self.best = -math.inf  # the best top-10 mean so far, and the calls when it was reached
        self.best_calls = 0
        self.restarts = 0

    def state_dict(self) -> dict:
        return dict(self.__dict__)

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update({k: v for k, v in state.items() if k in self.__dict__})


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
        """``n`` remembered sequences (all, if fewer), drawn without replacement with
        probability in proportion to their score, as REINVENT's experience replay draws
        (torch's RNG, so resume repeats it)."""
        values = list(self.items.values())
        if not values or not n:
            return []
        weights = torch.tensor([s for s, _, _ in values], dtype=torch.float64)
        picks = torch.multinomial(weights, min(n, len(values)), replacement=False).tolist()
        return [values[i] for i in picks]

    def state_dict(self) -> dict:
        return {"size": self.size, "items": self.items}

    def load_state_dict(self, state: dict) -> None:
        self.size, self.items = state["size"], state["items"]


class RewardLoop:
    """Reward-guided fine-tuning of ``backbone.model`` with the run's ``[reward]`` config: its
    own loop and optimizer, and a ``Session`` for checkpoints (trainable weights only,
    atomic), signals and the metrics log, as the likelihood trainer has."""

    def __init__(self, run, backbone: Backbone, data: DataSplits) -> None:
        from .lm import context_length, special_ids

        self.run, self.cfg, self.backbone, self.data = run, run.config.reward, backbone, data
        self.accelerator = run.accelerator
        self.state = RewardState()
        model = backbone.model
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
        self.session = Session(run, self.cfg.keep_last)
        self.session.register(self.state, self.memory, on_resume=self._cut_scored)
        self.max_tokens = context_length(model, self.cfg.max_tokens)
        self.bos, self.eos = special_ids(model)
        self.last_score: float | None = None

    # ---------------------------------------------------------------- loop
    def fit(self) -> TrainResult:
        """Run the stage to a stopping rule, resuming from the last checkpoint."""
        resumed = self.session.resume(self.model, lambda: self.state.step)
        if not resumed and self.run.is_main:
            (self.run.dir / SCORED).unlink(missing_ok=True)
        trainable, total = count_parameters(self.model)
        self.run.log(f"reward stage: {trainable:,} / {total:,} parameters learn; sigma "
                     f"{self.cfg.sigma:g}, batch {self.cfg.batch_size}"
                     + (f"; resumed at step {self.state.step}" if resumed else ""))
        counted = self.cfg.budget is not None  # the bar counts calls, else steps
        bar = tqdm(total=self.cfg.budget or self.cfg.max_steps, desc="reward",
                   initial=self.state.calls if counted else self.state.step,
                   unit="call" if counted else "step", disable=not self.run.is_main,
                   dynamic_ncols=True)
        start = time.perf_counter()
        with self.session.guard(), contextlib.closing(bar):
            while not self._done():
                calls, temperature = self.state.calls, self.state.temperature
                logs = self._step()
                self.state.step += 1
                self._pace(self.state.calls - calls)
                logs.update(temperature=temperature or self.cfg.temperature,
                            new=self.state.calls - calls)
                bar.update(self.state.calls - calls if counted else 1)
                bar.set_postfix(score=f"{logs['score']:.3f}", valid=f"{logs['valid']:.2f}",
                                nll=f"{logs['agent_nll']:.1f}")
                if self.state.step % self.cfg.log_every == 0 or self._done():
                    self.session.log("reward", self.state.step, logs)
                    self.run.call("on_step", step=self.state.step, logs=logs)
                interrupted = self.session.interrupted()  # every process, every step
                if self.state.step % self.cfg.save_every == 0 or self._done() or interrupted:
                    self.state.train_seconds += time.perf_counter() - start
                    start = time.perf_counter()
                    self.session.save(self.state.step)
                if interrupted:
                    raise self.session.stop(self.state.step)
            if self.session.saved_step != self.state.step:
                self.session.save(self.state.step)
        self.accelerator.wait_for_everyone()
        model = self.accelerator.unwrap_model(self.model)
        stopped = self._stop_reason() or "interrupted"
        self.run.log(f"reward stage stopped: {stopped}; {self.state.calls:,} oracle calls"
                     + (f" of {self.cfg.budget:,}" if self.cfg.budget else "")
                     + f" in {self.state.step} steps, {self.state.train_seconds:.0f} s"
                     + (f", {self.state.restarts} restarts" if self.state.restarts else ""))
        summary = {"stopped": stopped, "steps": self.state.step,
                   "oracle_calls": self.state.calls, "budget": self.cfg.budget,
                   "restarts": self.state.restarts,
                   "train_seconds": round(self.state.train_seconds, 2),
                   "top10_score": _mean(self.memory.top()),
                   "trainable_params": trainable, "total_params": total}
        trained = dataclasses.replace(self.backbone, model=model)
        return TrainResult(backbone=trained, summary=summary)

    def _done(self) -> bool:
        return self._stop_reason() is not None

    def _stop_reason(self) -> str | None:
        """Which stopping rule is met now, in words (None: none is)."""
        cfg, state = self.cfg, self.state
        if cfg.budget and state.calls >= cfg.budget:
            return f"budget: {state.calls:,} oracle calls of reward.budget = {cfg.budget:,}"
        if cfg.stall_calls and state.calls - state.best_calls >= cfg.stall_calls:
            return (f"stall: the top-10 ({state.best:.4f}) has not improved for "
                    f"{state.calls - state.best_calls:,} calls (reward.stall_calls = "
                    f"{cfg.stall_calls:,})")
        if cfg.stall_new and state.few_new >= cfg.stall_steps:
            return (f"stall: fewer than reward.stall_new = {cfg.stall_new} new samples a step "
                    f"for {state.few_new} steps")
        if cfg.max_steps is not None and state.step >= cfg.max_steps:
            unused = f", {cfg.budget - state.calls:,} calls unused" if cfg.budget else ""
            return f"step cap: reward.max_steps = {cfg.max_steps}{unused}"
        last = self.last_score
        if (cfg.max_score and last is not None and state.step >= cfg.min_steps
                and last >= cfg.max_score):
            return f"score: a batch's mean {last:.3f} >= reward.max_score = {cfg.max_score}"
        return None

    def _pace(self, new: int) -> None:
        """After a step that scored ``new`` new samples: the stall counters, and the
        exploration response when the agent has collapsed."""
        cfg, state = self.cfg, self.state
        top = _mean(self.memory.top())
        if top > state.best + 1e-6:
            state.best, state.best_calls = top, state.calls
        state.few_new = state.few_new + 1 if new < cfg.stall_new else 0
        low = new < cfg.collapse_below * cfg.batch_size * self.accelerator.num_processes
        state.collapsed = state.collapsed + 1 if low else 0
        now = state.temperature or cfg.temperature
        if cfg.explore == "temperature":  # up 25% a collapsed step, back down once it recovers
            up = state.collapsed >= cfg.collapse_steps
            now = min(now * 1.25, cfg.temperature_max) if up else max(now / 1.25, cfg.temperature)
            state.temperature = now
        elif cfg.explore == "restart" and state.collapsed >= cfg.collapse_steps:
            self._restart()

    def _restart(self) -> None:
        """The agent back to the prior's weights and a fresh optimizer; the replay memory (the
        best found) and what was scored stay."""
        model = self.accelerator.unwrap_model(self.model)
        model.load_state_dict(self.prior.state_dict())
        getattr(self.optimizer, "optimizer", self.optimizer).state.clear()
        self.state.restarts += 1
        self.state.collapsed = 0
        self.run.log(f"reward stage: restart {self.state.restarts} from the prior at step "
                     f"{self.state.step} ({self.state.calls:,} calls): the agent had collapsed")

    def _step(self) -> dict:
        """Sample, score, and one DAP update on the batch plus replayed sequences. With
        several processes, every process scores the samples of all (so ``run.state``, the
        diversity memory, and the replay memory stay the same everywhere) and trains on its
        own."""
        model = self.accelerator.unwrap_model(self.model)
        ids = self.run.call("sample_ids", backbone=self.backbone, model=model,
                            n=self.cfg.batch_size,
                            temperature=self.state.temperature or self.cfg.temperature,
                            max_tokens=self.max_tokens)
        every_ids = self._everywhere(ids)
        samples = self.run.call("decode", backbone=self.backbone, ids=every_ids)
        rewards = self.run.call("reward", backbone=self.backbone, data=self.data,
                                samples=samples, step=self.state.step)
        all_scores = _checked(rewards, samples)
        start = self.accelerator.process_index * len(ids)
        scores = all_scores[start: start + len(ids)]
        # each distinct sequence of the batch once (REINVENT: a collapsed agent draws the
        # same few many times; they are not weighted by their count, nor computed again)
        unique: dict[tuple, int] = {}  # each distinct sequence -> its first row
        for row, seq in enumerate(ids):
            unique.setdefault(tuple(seq), row)
        first = list(unique.values())
        order = {seq: k for k, seq in enumerate(unique)}
        device = self.accelerator.device
        back = torch.tensor([order[tuple(seq)] for seq in ids], dtype=torch.long, device=device)
        replay = self.memory.draw(self.cfg.replay_batch)
        rows = [ids[r] for r in first] + [seq for _, seq, _ in replay]
        self.model.train()
        agent = logp_by_length(self.model, rows, self.eos, device)
        with torch.no_grad():
            prior = logp_by_length(self.prior, rows[: len(unique)], self.eos, device)
        target_prior = torch.cat([prior, torch.tensor([p for _, _, p in replay], device=device)])
        target_score = torch.cat([scores[first].to(device),
                                  torch.tensor([s for s, _, _ in replay], device=device)])
        loss = (target_prior + self.cfg.sigma * target_score - agent).pow(2).mean()
        if self.cfg.likelihood_penalty:  # REINVENT's: -1/log P grows as log P nears 0
            loss = loss - self.cfg.likelihood_penalty * (1 / agent.clamp(max=-1e-6)).mean()
        if not torch.isfinite(loss):
            raise TlgenError(f"reward stage stopped at step {self.state.step + 1}: the loss became "
                             f"non-finite; the last checkpoint is intact; lower reward.lr")
        self.accelerator.backward(loss)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        all_prior = torch.tensor(self._everywhere(prior[back].tolist()))
        agent_nll = -torch.tensor(self._everywhere(agent[back].detach().tolist()))
        self.memory.add([str(s) for s in samples], every_ids, all_prior, all_scores)
        self.state.calls += len(samples) if rewards.calls is None else rewards.calls
        self.last_score = float(all_scores.mean())
        self._write_scored(samples, agent_nll, -all_prior, all_scores, rewards.components)
        valid = rewards.valid if rewards.valid is not None else [True] * len(samples)
        logs = {"loss": loss.item(), "score": self.last_score,
                "valid": sum(valid) / len(valid),
                "duplicates": 1 - len(set(map(str, samples))) / len(samples),
                "agent_nll": agent_nll.mean().item(), "prior_nll": -all_prior.mean().item(),
                "top10": _mean(self.memory.top()), "oracle_calls": self.state.calls}
        logs.update({f"component/{k}": _mean(v) for k, v in rewards.components.items()})
        return logs

    def _everywhere(self, items: list) -> list:
        """``items`` of every process, in rank order (this process's alone when it is one)."""
        if self.accelerator.num_processes == 1:
            return items
        from accelerate.utils import gather_object

        return gather_object(items)

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

    def _cut_scored(self, step: int) -> None:
        """On resume, cut scored.csv back to the checkpoint's step."""
        scored = self.run.dir / SCORED
        if not scored.is_file():
            return
        with open(scored, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        kept = rows[:1] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= step]
        with open(scored, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(kept)


def logp_by_length(model: torch.nn.Module, rows: list[list[int]], pad: int, device,
                   chunk: int = 16) -> torch.Tensor:
    """``sequence_logp`` of each row, in order, computed on rows grouped by length,
    ``chunk`` at a time, each group padded to its own longest: a batch padded to its one
    longest sequence spends a quarter to a third of its compute on padding on the shipped
    prior's batches (benchmarks/reward_step.py: 0.67-0.77x grouped)."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    parts = []
    for start in range(0, len(order), chunk):
        ids, mask = _pad([rows[i] for i in order[start: start + chunk]], pad, device)
        parts.append(sequence_logp(model, ids, mask))
    where = torch.empty(len(order), dtype=torch.long)
    where[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
    return torch.cat(parts)[where.to(device)]


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
