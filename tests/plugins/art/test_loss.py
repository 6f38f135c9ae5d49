import numpy as np
import torch
from PIL import Image

from tlgen.plugins.art import plugin
from tlgen.plugins.art.backbone import to_backbone
from tlgen.plugins.art.guidance import StyleGuide
from tlgen.plugins.art.loss import StyleTransferLoss, clean_prediction

from .conftest import tiny_pixel_pipeline


class Wrapper(torch.nn.Module):
    """Stands in for a distributed wrapper: forwards to the UNet and counts the calls."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module
        self.calls = 0

    def forward(self, *args, **kwargs):
        self.calls += 1
        return self.module(*args, **kwargs)


def test_the_loss_calls_the_model_it_is_given_with_the_backbones_scheduler():
    backbone = to_backbone(tiny_pixel_pipeline(), "tiny")
    batch = {"pixel_values": torch.rand(3, 3, 16, 16) * 2 - 1}
    wrapped = Wrapper(backbone.model).eval()
    loss = plugin.loss(backbone=backbone, model=wrapped, batch=batch)
    assert wrapped.calls == 1 and loss.ndim == 0 and loss > 0
    # in eval mode the noise and timesteps are fixed: the same loss through the bare UNet
    assert torch.equal(loss, plugin.loss(backbone=backbone, model=backbone.model, batch=batch))
    scheduler = backbone.extras["noise_scheduler"]
    backbone.extras["noise_scheduler"] = type(scheduler).from_config(
        scheduler.config, prediction_type="v_prediction")
    assert not torch.equal(loss, plugin.loss(backbone=backbone, model=wrapped, batch=batch))


def test_the_clean_prediction_of_the_true_noise_or_v_is_the_clean_image():
    scheduler = to_backbone(tiny_pixel_pipeline(), "tiny").extras["noise_scheduler"]
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 3, 8, 8, generator=gen) * 2 - 1
    noise = torch.randn(4, 3, 8, 8, generator=gen)
    steps = torch.tensor([0, 10, 50, 99])
    noisy = scheduler.add_noise(x0, noise, steps)
    assert torch.allclose(clean_prediction(scheduler, noise, noisy, steps), x0, atol=1e-4)
    v = type(scheduler).from_config(scheduler.config, prediction_type="v_prediction")
    velocity = v.get_velocity(x0, noise, steps)
    assert torch.allclose(clean_prediction(v, velocity, noisy, steps), x0, atol=1e-4)


def warm_noise(size=16):
    """The style: red and blue noise, no green (a palette and a texture to learn)."""
    rng = np.random.default_rng(0)
    array = np.stack([rng.integers(128, 255, (size, size)), np.zeros((size, size)),
                      rng.integers(0, 128, (size, size))], -1)
    return Image.fromarray(array.astype(np.uint8))


def test_the_style_term_adds_to_the_loss_and_training_on_it_moves_predictions_to_the_style():
    backbone = to_backbone(tiny_pixel_pipeline(), "tiny")
    gen = torch.Generator().manual_seed(0)
    batch = {"pixel_values": torch.rand(4, 3, 16, 16, generator=gen) * 2 - 1,
             "photo_values": torch.rand(4, 3, 16, 16, generator=gen) * 0.4 - 0.2}
    unet = backbone.model.eval()
    plain = plugin.loss(backbone=backbone, model=unet, batch=batch)
    term = StyleTransferLoss(StyleGuide([warm_noise()], 16, 0.0, torch.device("cpu"),
                                        downscale=1), weight=1.0, content=0.0, max_strength=0.5)
    backbone.extras["style_loss"] = term
    with torch.no_grad():
        before = plugin.loss(backbone=backbone, model=unet, batch=batch)
    assert before > plain  # the same denoising term (eval mode: fixed noise) plus the style's
    optimizer = torch.optim.Adam(unet.parameters(), lr=1e-2)
    for _ in range(30):
        unet.train()
        term(backbone.extras["noise_scheduler"], unet, batch["photo_values"], None).backward()
        optimizer.step()
        optimizer.zero_grad()
    with torch.no_grad():
        after = term(backbone.extras["noise_scheduler"], unet.eval(), batch["photo_values"],
                     torch.Generator().manual_seed(0))
    assert after < 0.6 * (before - plain)


def test_the_distillation_term_moves_predictions_to_the_guided_images_without_vgg():
    backbone = to_backbone(tiny_pixel_pipeline(), "tiny")
    gen = torch.Generator().manual_seed(0)
    photos = torch.rand(4, 3, 16, 16, generator=gen) * 0.4 - 0.2
    guided = (photos + torch.tensor([0.5, 0.0, -0.5]).view(1, 3, 1, 1)).clamp(-1, 1)
    guide = StyleGuide([warm_noise()], 16, 0.0, torch.device("cpu"), downscale=1)
    guide.vgg = None  # the style weight is 0: the term must not need the VGG
    term = StyleTransferLoss(guide, weight=0.0, content=0.0, max_strength=0.3, distil=1.0)
    scheduler = backbone.extras["noise_scheduler"]
    unet = backbone.model
    fixed = torch.Generator().manual_seed(0)
    with torch.no_grad():
        assert term(scheduler, unet.eval(), photos, fixed) == 0  # no guided images: no term
        before = term(scheduler, unet, photos, torch.Generator().manual_seed(0), guided)
    optimizer = torch.optim.Adam(unet.parameters(), lr=1e-2)
    for _ in range(40):
        unet.train()
        term(scheduler, unet, photos, None, guided).backward()
        optimizer.step()
        optimizer.zero_grad()
    with torch.no_grad():
        after = term(scheduler, unet.eval(), photos, torch.Generator().manual_seed(0), guided)
    assert after < 0.5 * before  # measured: 0.198 -> 0.076
