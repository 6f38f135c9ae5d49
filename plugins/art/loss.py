"""The fine-tuning loss: predict the noise added at a random timestep (diffusers' training
objective) on the style set and, for a pixel pipeline, a style transfer loss on the model's
own clean-image predictions from noised photos, so that the weights learn what style
guidance does at sampling time.

Why the second term: on 2 CPU cores the 1.5M-parameter pixel UNet does not take up a
painter's style by denoising his paintings alone (measured: the fine-tuned model without
guidance moved the style distance of SDEdit outputs by 1%). The style term is the loss
whose gradient the sampling guide follows (guidance.StyleGuide: pixel and VGG16 Gram
matrices against the style set), applied while training instead of while sampling: photos
(never the content images a run stylises) are noised to a timestep in the SDEdit range,
the model predicts the clean image, and that prediction is pushed towards the style's Gram
statistics while a VGG16 content term keeps its layout (Johnson et al. 2016's perceptual
losses, taken through the denoiser at each noise level). The plain denoising term beside it
keeps the model a denoiser of paintings, so that sampling from it still works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.utils.torch_utils import randn_tensor

from tlgen.types import Backbone

from .guidance import StyleGuide
from .metrics import gram

# the VGG16 level (after the pixels: relu1_2, relu2_2, relu3_3, relu4_3) whose activations
# the content term compares, as Johnson et al. do with relu2_2
CONTENT_LEVEL = 2


class StyleTransferLoss:
    """The style term: Gram loss of the model's clean-image predictions against the style
    set (``guide``), plus ``content`` x the relative change of their VGG16 relu2_2
    activations against the photo's, from photos noised to timesteps below
    ``max_strength`` of the schedule (the SDEdit strengths a run samples at); and, given
    the guided images made from the photos, ``distil`` x the mean squared error between
    the predictions and them (guidance distillation: the weights learn to land where the
    guided sampler lands). Both terms score the same prediction: one UNet pass."""

    def __init__(self, guide: StyleGuide, weight: float, content: float,
                 max_strength: float, distil: float = 0.0) -> None:
        self.guide = guide
        self.weight = weight
        self.content = content
        self.max_strength = max_strength
        self.distil = distil

    def __call__(self, scheduler, model: torch.nn.Module, photos: torch.Tensor,
                 gen: torch.Generator | None, guided: torch.Tensor | None = None
                 ) -> torch.Tensor:
        device = photos.device
        top = max(1, round(self.max_strength * scheduler.config.num_train_timesteps))
        where = "cpu" if gen else device
        steps = torch.randint(0, top, (photos.shape[0],), generator=gen, device=where).to(device)
        noise = randn_tensor(photos.shape, generator=gen, device=device, dtype=photos.dtype)
        noisy = scheduler.add_noise(photos, noise, steps)
        x0 = clean_prediction(scheduler, model(noisy, steps).sample.float(), noisy, steps)
        loss = x0.new_zeros(())
        if guided is not None and self.distil:
            loss = loss + self.distil * F.mse_loss(x0, guided.float())
        if not self.weight:
            return loss
        self.guide.vgg.to(device)
        found = self.guide.features(x0.clamp(-1, 1))
        style = torch.stack([relative(gram(f), t[None])
                             for f, t in zip(found, self.guide.target)]).mean()
        if self.content:
            with torch.no_grad():
                wanted = self.guide.features(photos)[CONTENT_LEVEL]
            style = style + self.content * relative(found[CONTENT_LEVEL], wanted)
        return loss + self.weight * style


def relative(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The batch mean of ||x - target|| / ||target|| per image, the form of the style metric
    (metrics.StyleDistance): not squared, so that a few crops far from the style (a coin, a
    star field) do not outweigh the rest, as they did with the guide's squared loss."""
    dims = tuple(range(1, x.dim()))
    target = target.expand_as(x)
    return ((x - target).pow(2).sum(dims).sqrt() / target.pow(2).sum(dims).sqrt()).mean()


def clean_prediction(scheduler, prediction: torch.Tensor, noisy: torch.Tensor,
                     steps: torch.Tensor) -> torch.Tensor:
    """The clean image x0 that a noise (or v) prediction at ``steps`` implies."""
    alpha_bar = scheduler.alphas_cumprod.to(noisy.device)[steps].view(-1, 1, 1, 1)
    if scheduler.config.prediction_type == "v_prediction":
        return alpha_bar.sqrt() * noisy - (1 - alpha_bar).sqrt() * prediction
    return (noisy - (1 - alpha_bar).sqrt() * prediction) / alpha_bar.sqrt()


def noise_prediction_loss(backbone: Backbone, model: torch.nn.Module,
                          batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """MSE between the UNet's prediction and the noise (or v) target, as diffusers' training
    scripts compute it: pixels as they are, or VAE latents conditioned on the caption's
    frozen text embedding; plus the style transfer term on ``photo_values`` when the
    backbone carries one (``extras["style_loss"]``, set by prepare_data). In eval mode the
    noise and timesteps are fixed, so validation losses are comparable between
    evaluations."""
    scheduler = backbone.extras["noise_scheduler"]
    pipe = backbone.extras["pipeline"]
    x0 = batch["pixel_values"]
    device = x0.device
    gen = None if model.training else torch.Generator().manual_seed(0)
    condition = {}
    if backbone.extras["kind"] == "latent":
        with torch.no_grad():
            latents = pipe.vae.to(device).encode(x0).latent_dist.sample(gen)
            x0 = latents * pipe.vae.config.scaling_factor
            text = pipe.text_encoder.to(device)(batch["input_ids"])[0]
        condition["encoder_hidden_states"] = text
    noise = randn_tensor(x0.shape, generator=gen, device=device, dtype=x0.dtype)
    where = "cpu" if gen else device
    steps = torch.randint(0, scheduler.config.num_train_timesteps, (x0.shape[0],),
                          generator=gen, device=where).to(device)
    noisy = scheduler.add_noise(x0, noise, steps)
    prediction = model(noisy, steps, **condition).sample
    if scheduler.config.prediction_type == "v_prediction":
        target = scheduler.get_velocity(x0, noise, steps)
    else:
        target = noise
    loss = F.mse_loss(prediction.float(), target.float())
    style = backbone.extras.get("style_loss")
    if style is not None and "photo_values" in batch:
        loss = loss + style(scheduler, model, batch["photo_values"], gen,
                            batch.get("guided_values"))
    return loss
