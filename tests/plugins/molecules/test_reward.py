"""The reward stage on the molecules plugin: token ids decode to SMILES, a short run on the
shipped prior raises its score, a killed run resumes exactly, and a user function that fails
mid-run stops the run naming the SMILES."""

import json

import pytest
import torch
from safetensors.torch import load_file

from tlgen import Run, TlgenError
from tlgen.testing import KillAt
from tlgen.checkpoints import list_checkpoints

REWARD = ["train.mode='reward'", "before=false", "freeze.strategy='full'", "train.threads=1",
          "data.max_molecules=120", "sample.n=16", "sample.batch_size=16", "evaluate.fcd=false",
          "reward.batch_size=16", "reward.save_every=5"]
SMALL = ["scoring.components.mw.transform={type='reverse_sigmoid', low=200, high=300, k=0.5}"]


def make(tmp_path, *overrides, extra=(), name=None):
    return Run.create("molecules", overrides=[*REWARD, *overrides], output_dir=tmp_path,
                      device="cpu", extra_plugins=extra, name=name)


def curve(run, key: str = "score") -> list[float]:
    records = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    return [r[key] for r in records if r["split"] == "reward"]


def test_decode_turns_token_ids_into_smiles(tiny_prior, bpe_prior):
    from tlgen.plugins.molecules.backbone import load_pretrained
    from tlgen.plugins.molecules.plugin import decode
    from tlgen.types import Backbone

    smiles = ["CC(=O)Oc1ccccc1C(=O)O", "c1ccc2[nH]ccc2c1"]
    for folder in (tiny_prior, bpe_prior):
        model, tokenizer = load_pretrained(folder)
        ids = [tokenizer(s)["input_ids"] + [tokenizer.eos_token_id] for s in smiles]
        assert decode(Backbone(model=model, tokenizer=tokenizer), ids) == smiles


@pytest.mark.slow
def test_a_short_reward_run_raises_the_score_and_reports_the_best(tmp_path):
    """Small molecules wanted (MW below ~250); the shipped prior's are ~320."""
    run = make(tmp_path, *SMALL, "reward.max_steps=24", "reward.lr=5e-4")
    summary = run.execute()
    # the objective itself (before the diversity filter, which by design zeroes a scaffold
    # once 25 good molecules share it, so the filtered score can fall once the agent finds one)
    objective = curve(run, "component/before filter")
    assert sum(objective[-4:]) / 4 > sum(objective[:4]) / 4 + 0.15, objective
    scores = curve(run)
    assert sum(scores[-4:]) / 4 > scores[0] + 0.1, scores
    assert summary["train"]["oracle_calls"] == len(run.state["reward"]["molecules"])
    page = (run.dir / "report.html").read_text()
    assert "figures/reward_best.png" in page
    assert (run.dir / "figures" / "reward_best.png").stat().st_size > 10_000
    assert "unique Murcko scaffolds" in page and "Top reward-tuned samples" in page


@pytest.mark.slow
def test_a_killed_reward_run_resumes_exactly(tmp_path):
    settings = [*SMALL, "reward.max_steps=10", "scoring.bucket_size=3", "scoring.min_score=0.1"]
    reference = make(tmp_path, *settings, name="reference")
    reference.execute()
    killed = make(tmp_path, *settings, extra=[KillAt(7)], name="killed")
    with pytest.raises(KeyboardInterrupt):
        killed.execute()
    resumed = Run.open(killed.dir)
    resumed.execute()
    assert (killed.dir / "scored.csv").read_text() == (reference.dir / "scored.csv").read_text()
    assert resumed.state["reward"] == reference.state["reward"]  # the filter's memory too
    assert curve(resumed) == pytest.approx(curve(reference), abs=1e-6)
    want, got = (load_file(list_checkpoints(r.dir / "checkpoints")[-1] / "model.safetensors")
                 for r in (reference, killed))
    for key in want:
        torch.testing.assert_close(got[key], want[key])


FAILS_LATER = '''
CALLS = []

def score(smiles):
    CALLS.append(len(smiles))
    if len(CALLS) > 4 and any("N" in s for s in smiles):  # the probe and 3 steps go through
        raise RuntimeError("the docking server went away")
    return [0.5] * len(smiles)
'''


@pytest.mark.slow
def test_a_user_function_failing_mid_run_stops_it_naming_the_smiles(tmp_path):
    module = tmp_path / "flaky.py"
    module.write_text(FAILS_LATER)
    run = make(tmp_path, "reward.max_steps=20", "reward.save_every=2",
               "scoring.components.mine.type='function'",
               f"scoring.components.mine.function='{module}:score'")
    with pytest.raises(TlgenError, match=r"'mine': .*flaky.py:score raised RuntimeError: the "
                                         r"docking server went away \(on SMILES '[^']*N"):
        run.execute()
    saved = list_checkpoints(run.dir / "checkpoints")
    assert saved and saved[-1].name.endswith("2")  # steps 1-3 ran; the step-2 checkpoint stays
    assert load_file(saved[-1] / "model.safetensors")
