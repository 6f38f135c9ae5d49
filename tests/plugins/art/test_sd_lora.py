import pytest
import torch
from diffusers import DiffusionPipeline

from tlgen import TlgenError


@pytest.mark.slow
def test_stable_diffusion_lora_trains_samples_and_exports(make_run, sd_dir, tmp_path):
    run = make_run(f"backbone.path='{sd_dir}'", "freeze.strategy='lora'", "data.crop=32",
                   "train.lr=1e-2")
    summary = run.execute()
    train = summary["train"]
    assert 0 < train["trainable_params"] < train["total_params"] / 2
    assert {"ssim_s0.5", "style_change_s0.5"} <= set(summary["metrics"]["after"])
    assert len(list((run.dir / "samples" / "after").glob("sample_*.png"))) == 2

    merged = DiffusionPipeline.from_pretrained(run.dir / "model").unet.state_dict()
    base = DiffusionPipeline.from_pretrained(sd_dir).unet.state_dict()
    to_q = [k for k in base if k.endswith("attn1.to_q.weight")]
    assert to_q and not all(torch.equal(base[k], merged[k]) for k in to_q)
    assert all(torch.equal(base[k], merged[k]) for k in base if "resnets" in k)

    adapter = run.export(tmp_path / "adapter", merge=False)
    pipe = DiffusionPipeline.from_pretrained(adapter)
    assert all(torch.equal(base[k], v) for k, v in pipe.unet.state_dict().items())
    pipe.load_lora_weights(adapter)
    assert any("lora_A" in k for k in pipe.unet.state_dict())


def test_latent_crops_must_fit_the_vae(make_run, sd_dir):
    with pytest.raises(TlgenError, match="multiple of 8"):
        make_run(f"backbone.path='{sd_dir}'", "data.crop=30").execute()
