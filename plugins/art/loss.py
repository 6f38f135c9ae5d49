"""The diffusion training loss: predict the noise added at a random timestep."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.utils.torch_utils import randn_tensor

from tlgen.types import Backbone


def noise_prediction_loss(backbone: Backbone, model: torch.nn.Module,
                          batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """MSE between the UNet's prediction and the noise (or v) target, as diffusers' training
    scripts compute it: pixels as they are, or VAE latents conditioned on the caption's
    frozen text embedding. In eval mode the noise and timesteps are fixed, so validation
    losses are comparable between evaluations."""
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
    return F.mse_loss(prediction.float(), target.float())
