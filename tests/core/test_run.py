import json
import math

import pytest
import torch
from safetensors.torch import load_file

from tlgen import Run, TlgenError
from tlgen.testing import KillAt, Killed

from .conftest import hooks_plugin


def final_weights(run):
    return {k: v.clone() for k, v in run.load_trained().model.state_dict().items()}


def test_every_hook_runs_and_the_run_folder_is_complete(make_run):
    seen = []
    spy = hooks_plugin(on_step=lambda step: seen.append(("step", step)),
                       on_evaluate=lambda step: seen.append(("eval", step)),
                       on_run_end=lambda summary: seen.append(("end", None)))
    run = make_run(extra=[spy])
    summary = run.execute()
    for name in ("config.toml", "metrics.jsonl", "report.html", "figures/learning_curves.png",
                 "summary.json", "stages/before.pkl", "model/config.json"):
        assert (run.dir / name).exists(), name
    before, after = summary["metrics"]["before"], summary["metrics"]["after"]
    assert after["val_loss"] < before["val_loss"] - 0.2  # 12 steps: 3.55 -> 3.17 nats
    assert after["val_perplexity"] == pytest.approx(math.exp(after["val_loss"]))
    assert summary["train"]["steps"] == 12 and summary["train"]["tokens"] > 0
    assert ("eval", 4) in seen and ("step", 12) in seen and seen[-1] == ("end", None)
    records = [json.loads(x) for x in (run.dir / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "lr", "tokens_per_s"} <= set(records[0])
    assert [p.name for p in (run.dir / "checkpoints").iterdir()] == ["step-00000008",
                                                                      "step-00000012"]
    page = (run.dir / "report.html").read_text()
    assert "val_loss" in page and "learning_curves.png" in page and "Samples" in page


@pytest.mark.parametrize("strategy", ["full", "lora"])
def test_killed_run_resumes_exactly(make_run, strategy):
    reference = make_run(f"freeze.strategy='{strategy}'", name="reference")
    reference.execute()

    killed = make_run(f"freeze.strategy='{strategy}'", extra=[KillAt(6)], name="killed")
    with pytest.raises(Killed):
        killed.execute()
    assert [p.name for p in (killed.dir / "checkpoints").iterdir()] == ["step-00000004"]

    resumed = Run.open(killed.dir)
    summary = resumed.execute()
    assert summary["train"]["steps"] == 12
    want, got = final_weights(reference), final_weights(resumed)
    assert want.keys() == got.keys()
    if strategy == "lora":  # adapters came back and kept learning (B starts at zero)
        lora_b = [k for k in got if "lora_B" in k]
        assert lora_b and all(got[k].abs().sum() > 0 for k in lora_b)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6)


def test_resume_keeps_before_stage_and_metrics_log(make_run):
    run = make_run(extra=[KillAt(6)])
    with pytest.raises(Killed):
        run.execute()
    stored = (run.dir / "stages" / "before.pkl").read_bytes()
    summary = Run.open(run.dir).execute()
    assert (run.dir / "stages" / "before.pkl").read_bytes() == stored
    assert summary["metrics"]["before"]["val_loss"] > summary["metrics"]["after"]["val_loss"]
    steps = [json.loads(x)["step"] for x in (run.dir / "metrics.jsonl").read_text().splitlines()
             if '"train"' in x]
    assert steps[-1] == 12


def test_lora_trains_only_adapters(make_run):
    run = make_run("freeze.strategy='lora'", "freeze.lora_r=2")
    backbone = run.freeze(run.load_backbone())
    trainable = [n for n, p in backbone.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_freeze_first_n_freezes_embeddings_and_first_blocks(make_run):
    run = make_run("freeze.strategy='freeze-first:1'")
    model = run.freeze(run.load_backbone()).model
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert "transformer.wte.weight" in frozen and "transformer.wpe.weight" in frozen
    assert any(n.startswith("transformer.h.0.") for n in frozen)
    assert not any(n.startswith("transformer.h.1.") for n in frozen)


def test_freeze_first_more_blocks_than_exist(make_run):
    run = make_run("freeze.strategy='freeze-first:9'")
    with pytest.raises(TlgenError, match="only 2 blocks"):
        run.freeze(run.load_backbone())


def test_corrupted_checkpoint_is_a_clear_error(make_run):
    run = make_run(extra=[KillAt(6)])
    with pytest.raises(Killed):
        run.execute()
    (run.dir / "checkpoints" / "step-00000004" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(TlgenError, match=r"checkpoint .*step-00000004 is corrupted"):
        Run.open(run.dir).execute()


def test_empty_training_set_is_a_clear_error(make_run):
    with pytest.raises(TlgenError, match="training set is empty"):
        make_run("data.text='\u00e9\u00e9'").execute()


def test_open_rejects_missing_and_foreign_folders(tmp_path):
    with pytest.raises(TlgenError, match="does not exist"):
        Run.open(tmp_path / "missing")
    with pytest.raises(TlgenError, match="not a tlgen run"):
        Run.open(tmp_path)


def test_export_merged_lora_loads_without_tlgen(make_run, tmp_path):
    from transformers import GPT2LMHeadModel

    run = make_run("freeze.strategy='lora'")
    run.execute()
    adapter = Run.open(run.dir).export(tmp_path / "adapter")
    assert (adapter / "adapter_config.json").exists()
    merged = Run.open(run.dir).export(tmp_path / "merged", merge=True)
    model = GPT2LMHeadModel.from_pretrained(merged)
    trained = Run.open(run.dir).load_trained().model
    ids = torch.tensor([[1, 2, 3, 4]])
    torch.testing.assert_close(model(ids).logits, trained(ids).logits, rtol=1e-4, atol=1e-4)
    assert load_file(merged / "model.safetensors")


def test_cuda_without_gpu_is_a_clear_error(make_run):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(TlgenError, match="no GPU"):
        make_run("train.device='cuda'")
