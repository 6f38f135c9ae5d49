import json

import pytest
import torch
from diffusers import DiffusionPipeline

from tlgen import TlgenError


def test_pixel_run_end_to_end_freezes_the_down_path(make_run, pixel_dir):
    run = make_run(f"backbone.path='{pixel_dir}'", "freeze.strategy='freeze-first:2'",
                   "data.crop=16")
    summary = run.execute()
    before, after = summary["metrics"]["before"], summary["metrics"]["after"]
    assert set(after) == {"style_dist_content", "style_dist_s0.5", "ssim_s0.5",
                          "style_change_s0.5", "style_dist_samples"}
    assert before["style_dist_content"] == after["style_dist_content"]
    manifest = json.loads((run.dir / "samples" / "after" / "manifest.json").read_text())
    assert [e["kind"] for e in manifest["samples"]] == ["stylised", "sample", "sample"]
    page = (run.dir / "report.html").read_text()
    for section in ("Style transfer: content", "Style set (vangogh)", "style change, fine-tuned"):
        assert section in page
    assert (run.dir / "figures" / "style_transfer.png").is_file()

    base = DiffusionPipeline.from_pretrained(pixel_dir).unet.state_dict()
    tuned = DiffusionPipeline.from_pretrained(run.dir / "model").unet.state_dict()
    assert all(torch.equal(base[k], tuned[k]) for k in base if k.startswith("down_blocks"))
    assert any(not torch.equal(base[k], tuned[k]) for k in base if k.startswith("up_blocks"))


def test_a_new_pixel_model_trains_from_scratch(make_run):
    run = make_run("backbone.from_scratch=true", "backbone.block_out_channels=[8, 8]",
                   "backbone.norm_num_groups=4", "backbone.sample_size=16", "data.crop=16",
                   "freeze.strategy='full'", "before=false", "data.style='photos'")
    summary = run.execute()
    assert summary["train"]["steps"] == 2 and "before" not in summary["metrics"]
    assert DiffusionPipeline.from_pretrained(run.dir / "model").unet.config.sample_size == 16


@pytest.mark.parametrize("override, message", [
    ("backbone.path='{tmp}'", "not a diffusion pipeline folder"),
    ("backbone.path='{tmp}/missing/model'", "no such folder"),
    ("data.style='{tmp}'", "data.style.*has no images"),
])
def test_bad_input_is_one_clear_error(make_run, pixel_dir, tmp_path, override, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    run = make_run(f"backbone.path='{pixel_dir}'", override.format(tmp=empty))
    with pytest.raises(TlgenError, match=message):
        run.execute()
