import numpy as np
import pytest
import torch
from click.testing import CliRunner
from diffusers import DiffusionPipeline
from PIL import Image

from tlgen import Run, TlgenError
from tlgen.cli import main
from tlgen.plugins.art.metrics import read_scores
from tlgen.testing import KillAt

from .conftest import FAST


@pytest.mark.slow
def test_pixel_run_end_to_end_freezes_the_down_path(make_run, pixel_dir):
    run = make_run(f"backbone.path='{pixel_dir}'", "freeze.strategy='freeze-first:2'",
                   "data.crop=16")
    summary = run.execute()
    before, after = summary["metrics"]["before"], summary["metrics"]["after"]
    assert set(after) == {"val_loss", "ssim_s0.5", "style_change_s0.5", "judge_change_s0.5"} | {
        f"{key}_{part}" for key in ("style_dist", "judge") for part in ("content", "s0.5",
                                                                        "samples")}
    assert before["style_dist_content"] == after["style_dist_content"]
    assert before["judge_content"] == after["judge_content"]
    assert before["ssim_s0.5"] != after["ssim_s0.5"]  # the after stage measured new images
    _check_samples_and_scores(run, after)
    _check_report(run)
    result = CliRunner().invoke(main, ["sample", str(run.dir), "-n", "2"])
    assert result.exit_code == 0, result.output
    stage = next((run.dir / "samples").glob("sample-*"))  # a new, dated stage
    assert sorted(p.name for p in stage.glob("*.png")) == [
        "astronaut_s0.50.png", "content_astronaut.png", "sample_000.png", "sample_001.png"]

    base = DiffusionPipeline.from_pretrained(pixel_dir).unet.state_dict()
    tuned = DiffusionPipeline.from_pretrained(run.dir / "model").unet.state_dict()
    assert all(torch.equal(base[k], tuned[k]) for k in base if k.startswith("down_blocks"))
    assert any(not torch.equal(base[k], tuned[k]) for k in base if k.startswith("up_blocks"))


def _check_samples_and_scores(run, after):
    """The scores file written for the user lists every image with its figures, and they
    agree with the metrics."""
    folder = run.dir / "samples" / "after"
    rows = read_scores(folder / "scores.csv")
    assert [r["kind"] for r in rows] == ["content", "stylised", "sample", "sample"]
    assert all((folder / r["file"]).is_file() for r in rows)
    assert rows[1]["ssim"] == pytest.approx(after["ssim_s0.5"])
    for dist, change in (("style_dist", "style_change"), ("judge", "judge_change")):
        assert rows[0][dist] == pytest.approx(after[f"{dist}_content"])
        assert rows[1][change] == pytest.approx(after[f"{change}_s0.5"])
        assert rows[1][change] == pytest.approx(rows[1][dist] / rows[0][dist] - 1)


def _check_report(run):
    page = (run.dir / "report.html").read_text()
    for section in ("Style transfer: content", "Style set (vangogh)", "Free samples"):
        assert section in page
    assert "<th>style change, fine-tuned</th>" in page and "<th>SSIM, base</th>" in page
    assert "<th>judge change, Magenta</th>" in page  # the zero-shot baseline beside the stages
    magenta = read_scores(run.dir / "samples" / "magenta" / "scores.csv")
    assert [(r["kind"], r["strength"]) for r in magenta] == [("content", None), ("stylised", 0.5)]
    assert (run.dir / "samples" / "magenta" / magenta[1]["file"]).is_file()
    assert "&lt;" not in page  # no HTML string escaped into the page
    for figure in ("style_transfer.png", "samples.png", "style_set.png"):
        assert f'src="figures/{figure}"' in page and (run.dir / "figures" / figure).is_file()


@pytest.mark.slow
def test_a_new_pixel_model_trains_from_scratch(make_run):
    run = make_run("backbone.from_scratch=true", "backbone.block_out_channels=[8, 8]",
                   "backbone.norm_num_groups=4", "backbone.sample_size=16", "data.crop=16",
                   "freeze.strategy='full'", "before=false", "data.style='photos'")
    summary = run.execute()
    assert summary["train"]["steps"] == 2 and "before" not in summary["metrics"]
    assert DiffusionPipeline.from_pretrained(run.dir / "model").unet.config.sample_size == 16
    page = (run.dir / "report.html").read_text()
    assert "<th>SSIM, fine-tuned</th>" in page and "SSIM, base" not in page


@pytest.mark.parametrize("override, message", [
    ("backbone.path='{tmp}'", "the folder has no model_index.json"),
    ("backbone.path='{tmp}/missing/model'", "no such folder"),
    ("data.style='{tmp}'", "data.style.*has no images"),
    ("data.photos='{tmp}'", "data.photos.*has no images"),
])
def test_bad_input_is_one_clear_error(make_run, pixel_dir, tmp_path, override, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    run = make_run(f"backbone.path='{pixel_dir}'", override.format(tmp=empty))
    with pytest.raises(TlgenError, match=message):
        run.execute()


def test_a_style_folder_of_one_pixel_is_refused_on_the_command_line(tmp_path):
    style = tmp_path / "style"
    style.mkdir()
    Image.new("RGB", (1, 1), (200, 100, 50)).save(style / "dot.png")
    result = CliRunner().invoke(main, ["run", "--plugin", "art", "-o", str(tmp_path / "runs"),
                                       "--device", "cpu", "--set", f"data.style='{style}'"])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: config key 'data.style': {style / 'dot.png'} is 1x1 px, too small "
                      "to use: images need a short side of at least 32 px; remove it or give a "
                      "larger version"]
    assert "Traceback" not in result.output and not any((tmp_path / "runs").glob("*"))


def test_style_images_smaller_than_the_crop_are_upscaled_with_a_warning(make_run, pixel_dir,
                                                                        tmp_path, capsys):
    style = tmp_path / "style"
    style.mkdir()
    pixels = np.random.default_rng(0).integers(0, 255, (40, 48, 3), np.uint8)
    Image.fromarray(pixels).save(style / "small.png")
    run = make_run(f"backbone.path='{pixel_dir}'", f"data.style='{style}'", "data.crop=64",
                   "data.distil=1")
    backbone = run.load_backbone()
    data = run.call("prepare_data", backbone=backbone)
    # a style crop, a photo crop and its guided image's for the style transfer term
    crop, photo, guided = data.train[0]
    assert crop.shape == photo.shape == guided.shape == (3, 64, 64)
    batch = data.collate_fn([data.train[0], data.train[1]])
    assert batch["pixel_values"].shape == batch["guided_values"].shape == (2, 3, 64, 64)
    assert "style_loss" in backbone.extras
    assert (f"warning: style image {style / 'small.png'} is 48x40 px, smaller than the 64 px "
            "crop: it is upscaled") in capsys.readouterr().out


@pytest.mark.slow
def test_a_resumed_run_reports_the_kept_before_stage(pixel_dir, tmp_path, capsys):
    overrides = [*FAST, f"backbone.path='{pixel_dir}'", "data.crop=16", "train.max_steps=4",
                 "train.log_every=1"]
    killed = Run.create("art", overrides=overrides, output_dir=tmp_path, device="cpu",
                        extra_plugins=[KillAt(3)])
    with pytest.raises(KeyboardInterrupt):
        killed.execute()
    assert (killed.dir / "stages" / "before.pkl").is_file()
    capsys.readouterr()
    summary = Run.open(killed.dir).execute()
    assert summary["train"]["steps"] == 4
    assert "before: " not in capsys.readouterr().out  # not sampled again: the kept stage
    before = summary["metrics"]["before"]
    again = Run.open(killed.dir)
    backbone = again.load_backbone()
    kept = again.stage("before", backbone, again.call("prepare_data", backbone=backbone),
                       keep=True)
    assert [row["kind"] for row in kept.items] == ["stylised", "sample", "sample"]
    assert kept.items[0]["ssim"] == pytest.approx(before["ssim_s0.5"])
    assert kept.items[0]["style_change"] == pytest.approx(before["style_change_s0.5"])
    scores = read_scores(killed.dir / "samples" / "before" / "scores.csv")
    assert [r["file"] for r in scores[1:]] == [row["file"] for row in kept.items]
    assert [r["judge"] for r in scores[1:]] == pytest.approx([row["judge"] for row in kept.items])
    page = (killed.dir / "report.html").read_text()
    assert f"<td>{before['style_change_s0.5']:+.1%}</td>" in page
    assert 'src="figures/style_transfer.png"' in page
