"""The reward-guided stage on the charlm test plugin: a reward for vowels must be learnt,
a killed stage resumes exactly, and a reward hook that breaks its contract is named."""

import math

import pytest
import torch
from safetensors.torch import load_file

from tlgen import Run, TlgenError, hookimpl
from tlgen.errors import PluginError
from tlgen.report import read_metrics
from tlgen.checkpoints import list_checkpoints
from tlgen.types import Rewards

from .charlm_plugin import ALPHABET, BOS
from .conftest import hooks_plugin

REWARD = ["train.mode='reward'", "before=false", "reward.batch_size=16", "reward.max_tokens=16",
          "reward.lr=3e-3", "reward.sigma=32", "reward.save_every=5", "reward.max_steps=25"]


def decode(ids):
    return ["".join(ALPHABET[t] for t in row if t < BOS) for row in ids]


def vowels(samples):
    scores = [sum(c in "aeiou" for c in s) / max(len(s), 1) for s in samples]
    return Rewards(scores=scores, components={"vowels": scores})


def scorer(reward=vowels):
    return hooks_plugin(decode=decode, reward=hookimpl(tryfirst=True)(
        lambda samples: reward(samples)))


def scores(run):
    return [r["score"] for r in read_metrics(run.dir) if r["split"] == "reward"]


def test_the_agent_learns_the_reward_and_every_sample_is_recorded(make_run):
    run = make_run(*REWARD, extra=[scorer()])
    summary = run.execute()
    curve = scores(run)
    assert len(curve) == 25 and summary["train"]["oracle_calls"] == 25 * 16
    first, last = sum(curve[:5]) / 5, sum(curve[-5:]) / 5  # measured: 0.14 -> 0.29
    assert last > first + 0.1 and last > 1.5 * first, curve
    rows = (run.dir / "scored.csv").read_text().splitlines()
    assert rows[0] == "step,sample,agent_nll,prior_nll,score,vowels" and len(rows) == 1 + 25 * 16
    assert "reward" in (run.dir / "report.html").read_text()


def test_a_killed_reward_stage_resumes_exactly(make_run):
    reference = make_run(*REWARD, extra=[scorer()], name="reference")
    reference.execute()

    def kill(step):
        if step == 12:
            raise KeyboardInterrupt

    killed = make_run(*REWARD, extra=[scorer(), hooks_plugin(on_step=kill)], name="killed")
    with pytest.raises(KeyboardInterrupt):
        killed.execute()
    Run.open(killed.dir, extra_plugins=[scorer()]).execute()
    assert scores(killed) == pytest.approx(scores(reference), abs=1e-6)
    want, got = (load_file(list_checkpoints(r.dir / "checkpoints")[-1] / "model.safetensors")
                 for r in (reference, killed))
    for key in want:
        torch.testing.assert_close(got[key], want[key])
    assert (killed.dir / "scored.csv").read_text() == (reference.dir / "scored.csv").read_text()


@pytest.mark.parametrize("reward, message", [
    (lambda s: Rewards(scores=[0.5]), r"returned 1 scores for 16 samples"),
    (lambda s: Rewards(scores=[math.nan] * len(s)), r"scored sample .* nan; scores must be finite"),
    (lambda s: Rewards(scores=[2.0] * len(s)), r"in \[0, 1\]"),
])
def test_a_reward_hook_that_breaks_its_contract_is_named(make_run, reward, message):
    run = make_run(*REWARD, extra=[scorer(reward)])
    with pytest.raises(PluginError, match=message):
        run.execute()


def test_a_budget_smaller_than_one_batch_is_refused(make_run):
    with pytest.raises(TlgenError, match=r"reward.budget': 8 oracle calls is less than one batch"):
        make_run(*REWARD, "reward.budget=8", extra=[scorer()]).execute()


def repeats(samples):
    """Every sample scores 0.5 and none is new (no oracle call): a collapsed agent, seen
    from the stage."""
    return Rewards(scores=[0.5] * len(samples), calls=0)


def test_a_budget_is_spent_without_a_step_cap_and_the_stop_is_named(make_run):
    settings = [r for r in REWARD if "max_steps" not in r]
    summary = make_run(*settings, "reward.budget=480", extra=[scorer()]).execute()["train"]
    assert summary["oracle_calls"] == 480 and summary["steps"] == 30  # 16 calls a step
    assert summary["stopped"].startswith("budget: 480 oracle calls")
    capped = make_run(*REWARD, "reward.budget=480", extra=[scorer()], name="capped").execute()
    assert capped["train"]["steps"] == 25  # a cap the user set stays, and is named
    assert capped["train"]["stopped"] == "step cap: reward.max_steps = 25, 80 calls unused"


def test_the_stall_rules_stop_the_stage(make_run):
    flat = lambda s: Rewards(scores=[0.5] * len(s))  # noqa: E731 - the top-10 never improves
    summary = make_run(*REWARD, "reward.stall_calls=64", extra=[scorer(flat)]).execute()["train"]
    assert summary["steps"] == 5 and summary["stopped"].startswith("stall: the top-10")
    few = make_run(*REWARD, "reward.stall_new=1", "reward.stall_steps=4",
                   "reward.explore='none'", extra=[scorer(repeats)], name="few").execute()["train"]
    assert few["steps"] == 4 and few["stopped"].startswith("stall: fewer than")


def test_each_distinct_sequence_of_a_batch_counts_once_in_the_loss(make_run):
    """REINVENT's unique-sequence batch: a collapsed agent that draws one sequence 15 times
    and another once trains on the two, not on a batch weighted 15 to 1."""
    vowel, consonant = ALPHABET.index("a"), ALPHABET.index("t")

    def draw(n, max_tokens):
        return [[BOS, vowel, vowel, BOS]] * (n - 1) + [[BOS, consonant, consonant, BOS]]

    sampler = hooks_plugin(sample_ids=hookimpl(tryfirst=True)(
        lambda n, max_tokens: draw(n, max_tokens)))
    run = make_run(*REWARD, "reward.max_steps=1", "reward.likelihood_penalty=0",
                   extra=[scorer(), sampler])
    run.execute()
    first = next(r for r in read_metrics(run.dir) if r["split"] == "reward")
    # step 1: the agent is the prior (but for dropout), so each row's loss is about
    # (sigma * score)^2, scores 1 and 0: half of sigma^2 (15/16 of it if counted by draws)
    assert first["loss"] == pytest.approx(32 ** 2 / 2, rel=0.02)
    assert first["duplicates"] == pytest.approx(14 / 16)


def test_the_loss_holds_reinvents_penalty_on_a_sequence_made_near_certain(make_run):
    vowel = ALPHABET.index("a")
    sampler = hooks_plugin(sample_ids=hookimpl(tryfirst=True)(
        lambda n, max_tokens: [[BOS, vowel, vowel, BOS]] * n))
    run = make_run(*REWARD, "reward.max_steps=1", "reward.likelihood_penalty=5000",
                   extra=[scorer(), sampler])
    run.execute()
    first = next(r for r in read_metrics(run.dir) if r["split"] == "reward")
    # one distinct sequence, score 1: (sigma * 1)^2 + 5000 / its NLL under the agent
    assert first["loss"] == pytest.approx(32 ** 2 + 5000 / first["agent_nll"], rel=0.02)


def test_log_p_grouped_by_length_is_each_row_alone_in_order():
    from transformers import GPT2Config, GPT2LMHeadModel

    from tlgen.reward import logp_by_length, sequence_logp

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=12, n_positions=32, n_embd=16, n_layer=1,
                                       n_head=2)).eval()
    rows = [[11, *torch.randint(0, 10, (n,)).tolist(), 10] for n in (9, 2, 17, 5, 2, 12, 7)]
    alone = torch.cat([sequence_logp(model, torch.tensor([r]), torch.ones(1, len(r)).long())
                       for r in rows])
    torch.testing.assert_close(logp_by_length(model, rows, 10, "cpu", chunk=3), alone,
                               atol=1e-5, rtol=1e-5)


def test_a_collapsed_agent_restarts_from_the_prior(make_run):
    restart = ["reward.explore='restart'", "reward.collapse_steps=3", "reward.save_every=100"]
    runs = {name: make_run(*REWARD, f"reward.max_steps={steps}", *settings,
                           extra=[scorer(repeats)], name=name)
            for name, steps, settings in [("three", 3, restart), ("six", 6, restart),
                                          ("kept", 3, ["reward.explore='none'"])]}
    summaries = {name: run.execute()["train"] for name, run in runs.items()}
    assert [summaries[n]["restarts"] for n in runs] == [1, 2, 0]
    assert summaries["six"]["stopped"] == "step cap: reward.max_steps = 6"
    # each run ends on a restart (after step 3, after step 6): both agents are the prior
    # again, while the one that did not restart has moved away from it
    weights = {name: load_file(list_checkpoints(run.dir / "checkpoints")[-1] / "model.safetensors")
               for name, run in runs.items()}
    for key in weights["three"]:
        torch.testing.assert_close(weights["six"][key], weights["three"][key])
    assert any(not torch.equal(weights["kept"][k], v) for k, v in weights["three"].items())


def test_a_collapsed_agent_samples_hotter_until_temperature_max(make_run):
    run = make_run(*REWARD, "reward.max_steps=6", "reward.explore='temperature'",
                   "reward.collapse_steps=2", "reward.temperature_max=1.5",
                   extra=[scorer(repeats)])
    run.execute()
    used = [r["temperature"] for r in read_metrics(run.dir) if r["split"] == "reward"]
    assert used == pytest.approx([1.0, 1.0, 1.25, 1.5, 1.5, 1.5])


def test_a_budget_lifts_the_default_step_cap_and_a_stage_needs_a_stopping_rule():
    from tlgen.config import RewardConfig

    assert RewardConfig().max_steps == 300  # no budget: the step cap stays
    assert RewardConfig(budget=10_000).max_steps is None
    assert RewardConfig(budget=10_000, max_steps=50).max_steps == 50
    with pytest.raises(ValueError, match="needs a stopping rule"):
        RewardConfig(max_steps=None)
