import torch

from tlgen.plugins.art import plugin
from tlgen.plugins.art.backbone import to_backbone

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
