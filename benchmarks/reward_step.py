"""Reward-stage step: the DAP forward/backward on one batch padded to its longest sequence vs
grouped by length (``tlgen.reward.logp_by_length``), side by side, on the shipped prior.

A step computes log P of the batch (64 samples, minus repeats, plus 24 replayed) under the
agent (with gradients) and the prior. Padded to the longest row, one long SMILES makes every
row pay for its length. Two batches from the shipped prior: as sampled (temperature 1) and
hotter (1.6, longer and stranger strings, as an agent that has drifted from the prior
writes). Prints seconds per step part, the ratio, and the largest difference in log P.

    python benchmarks/reward_step.py            # one thread, as benchmarks/pmo.py runs
    python benchmarks/reward_step.py --threads 2
"""

from __future__ import annotations

import argparse
import time

import torch

from tlgen.plugins.molecules.backbone import SHIPPED_PRIOR, load_pretrained
from tlgen.plugins.molecules.sampling import draw_ids
from tlgen.reward import _pad, logp_by_length, sequence_logp


def padded(model, rows, pad):
    ids, mask = _pad(rows, pad, "cpu")
    return sequence_logp(model, ids, mask)


def by_length(model, rows, pad):
    return logp_by_length(model, rows, pad, "cpu")


def step(agent, prior, rows, pad, logp) -> tuple[float, torch.Tensor]:
    """One DAP forward (agent, prior) and backward; its seconds and the agent's log P."""
    start = time.perf_counter()
    lp = logp(agent, rows, pad)
    with torch.no_grad():
        logp(prior, rows[:64], pad)
    lp.sum().backward()
    agent.zero_grad(set_to_none=True)
    return time.perf_counter() - start, lp.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    agent, tokenizer = load_pretrained(SHIPPED_PRIOR)
    prior, _ = load_pretrained(SHIPPED_PRIOR)
    prior.eval().requires_grad_(False)
    agent.train()
    pad = tokenizer.eos_token_id
    print(f"{'batch':>16} {'rows':>5} {'mean/max len':>13} {'padded s':>9} {'by length s':>12} "
          f"{'ratio':>6} {'max |dlogP|':>12}")
    for temperature in (1.0, 1.6):
        rows = draw_ids(agent, tokenizer, 88, temperature=temperature)
        lengths = [len(r) for r in rows]
        times = {"padded": [], "by length": []}
        for _ in range(args.repeats):  # alternate, so both see the same machine
            for name, logp in (("padded", padded), ("by length", by_length)):
                seconds, lp = step(agent, prior, rows, pad, logp)
                times[name].append(seconds)
                if name == "padded":
                    want = lp
                else:
                    diff = (lp - want).abs().max().item()
        a, b = min(times["padded"]), min(times["by length"])
        print(f"{'temperature ' + format(temperature, 'g'):>16} {len(rows):>5} "
              f"{sum(lengths) / len(lengths):>6.1f}/{max(lengths):<6} {a:>9.3f} {b:>12.3f} "
              f"{b / a:>6.2f} {diff:>12.2e}")


if __name__ == "__main__":
    main()
