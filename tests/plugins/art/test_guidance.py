import numpy as np
import pytest
import torch
from PIL import Image

from tlgen import TlgenError
from tlgen.plugins.art.backbone import to_backbone
from tlgen.plugins.art.config import ArtData, ArtSample
from tlgen.plugins.art.data import to_tensor
from tlgen.plugins.art.guidance import StyleGuide
from tlgen.plugins.art.sampling import PixelStylizer, style_guidance, stylizer_for

from .conftest import tiny_pixel_pipeline, tiny_sd_pipeline

CPU = torch.device("cpu")


def stripes(size=32):
    """A red-and-blue striped texture."""
    array = np.zeros((size, size, 3), np.uint8)
    array[:, ::4, 0] = 255
    array[:, 2::4, 2] = 255
    return Image.fromarray(array)


def noise_image(size=32):
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size, 3), np.uint8))


def test_the_style_image_has_no_loss_and_noise_has_some():
    guide = StyleGuide([stripes()], size=32, scale=0.1, device=CPU)
    noise = to_tensor(noise_image())[None]
    assert guide.loss(to_tensor(stripes())[None]).item() < 1e-6 < guide.loss(noise).item()


def test_a_step_has_rms_scale_and_lowers_the_loss():
    guide = StyleGuide([stripes()], size=32, scale=0.05, device=CPU)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    step = guide.step(x)
    assert step.pow(2).mean((1, 2, 3)).sqrt().tolist() == [pytest.approx(0.05)] * 2
    assert (guide.loss(x + step) < guide.loss(x)).all()


def test_guided_sdedit_ends_closer_to_the_style_than_unguided_with_the_same_seed():
    guide = StyleGuide([stripes()], size=32, scale=0.1, device=CPU)
    pipe = tiny_pixel_pipeline()
    plain, guided = (PixelStylizer(pipe.unet.eval(), pipe.scheduler.config, 10, CPU, g)
                     for g in (None, guide))
    outputs = [to_tensor(m.stylise(noise_image(), 0.5, seed=0))[None] for m in (plain, guided)]
    assert guide.loss(outputs[1]).item() < 0.9 * guide.loss(outputs[0]).item()


def test_negative_style_guidance_is_refused(make_run):
    with pytest.raises(TlgenError, match="sample.style_guidance"):
        make_run("sample.style_guidance=-0.1")


def test_style_guidance_is_refused_for_stable_diffusion():
    backbone = to_backbone(tiny_sd_pipeline(), "tiny-sd")
    with pytest.raises(TlgenError, match="pixel-space pipelines only"):
        stylizer_for(backbone, ArtSample(style_guidance=0.05), ArtData(), CPU, [stripes()])
    assert style_guidance(backbone, ArtSample()) == 0  # the default: off for Stable Diffusion


def test_a_stable_diffusion_run_with_guidance_fails_before_training(make_run, sd_dir):
    run = make_run(f"backbone.path='{sd_dir}'", "data.crop=32", "before=false",
                   "sample.style_guidance=0.05")
    with pytest.raises(TlgenError, match="pixel-space pipelines only"):
        run.execute()
    assert not (run.dir / "checkpoints").exists() or not any((run.dir / "checkpoints").iterdir())


def test_a_run_hands_its_style_images_to_the_guide(make_run, pixel_dir):
    run = make_run(f"backbone.path='{pixel_dir}'", "data.crop=16", "sample.style_guidance=0.05")
    after = run.execute()["metrics"]["after"]
    assert "style_change_s0.5" in after
