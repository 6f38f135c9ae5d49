"""A stage's samples: style transfer by SDEdit (noise a content image to strength s, denoise
it with the model) at each strength, then free samples; each an RGB image whose ``info``
says what it is (``kind``, ``content``, ``strength`` or ``index``, ``file``), saved as PNGs
in the stage's samples folder for the user.

Pixel UNets are run here with a DDIM scheduler, optionally guided towards the style set's
palette and VGG16 Gram statistics (guidance.py); Stable Diffusion uses diffusers' own img2img
pipeline (the same idea in VAE latent space, conditioned on the caption)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from diffusers import DDIMScheduler
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from tlgen import TlgenError
from tlgen.freeze import base_model
from tlgen.types import Backbone

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

    from .guidance import StyleGuide

from .config import ArtData, ArtSample
from .data import to_image, to_tensor

# The default guidance of a pixel pipeline: on the fine-tuned DDPM at strength 0.3 it halves
# the style distance at SSIM 0.57 (guidance.py); 0.03 gives more style for 0.03 less SSIM.
PIXEL_STYLE_GUIDANCE = 0.02


class PixelStylizer:
    """SDEdit and unconditional sampling with a pixel-space UNet and DDIM (eta = 0).

    With a ``guide``, each step's clean-image prediction x0 is moved by the guide's step d
    (down the gradient of the style loss at x0, not through the UNet: no backward pass through
    it) while the predicted noise is kept, as in manifold-preserving guidance (He et al. 2024):
    x_prev = sqrt(abar_prev) (x0 + d) + sqrt(1 - abar_prev) eps, i.e. the unguided DDIM step
    plus sqrt(abar_prev) d. The pushes add up over the steps, and the model re-draws the
    pushed image at the lower noise level of the next step. (Tapering d to nothing at the
    last step, so the model re-draws every push, gave less style change per SSIM lost.)"""

    def __init__(self, unet: torch.nn.Module, scheduler_config: dict, steps: int,
                 device: torch.device, guide: StyleGuide | None = None) -> None:
        self.unet = unet
        self.scheduler = DDIMScheduler.from_config(scheduler_config)
        self.steps = steps
        self.device = device
        self.size = unet.config.sample_size
        self.guide = guide

    @torch.no_grad()
    def stylise(self, image: Image.Image, strength: float, seed: int) -> Image.Image:
        """``image`` noised to ``strength`` (0: unchanged, 1: pure noise) and denoised."""
        self.scheduler.set_timesteps(self.steps)
        n = min(max(round(self.steps * strength), 1), self.steps)
        timesteps = self.scheduler.timesteps[self.steps - n:]
        x0 = to_tensor(image)[None].to(self.device)
        noise = randn_tensor(x0.shape, generator=torch.Generator().manual_seed(seed),
                             device=self.device)
        x = self.scheduler.add_noise(x0, noise, timesteps[:1])
        return to_image(self._denoise(x, timesteps)[0])

    @torch.no_grad()
    def generate(self, n: int, seed: int) -> list[Image.Image]:
        """``n`` unconditional samples at the model's training size."""
        self.scheduler.set_timesteps(self.steps)
        shape = (n, 3, self.size, self.size)
        x = randn_tensor(shape, generator=torch.Generator().manual_seed(seed), device=self.device)
        x = self._denoise(x * self.scheduler.init_noise_sigma, self.scheduler.timesteps)
        return [to_image(img) for img in x]

    def _denoise(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        for i, t in enumerate(timesteps):
            out = self.scheduler.step(self.unet(x, t).sample, t, x)
            x = out.prev_sample
            if self.guide is not None:
                prev = timesteps[i + 1] if i + 1 < len(timesteps) else None
                alpha_bar = (self.scheduler.final_alpha_cumprod if prev is None
                             else self.scheduler.alphas_cumprod[prev])
                x = x + alpha_bar.to(x.device) ** 0.5 * self.guide.step(out.pred_original_sample)
        return x


class LatentStylizer:
    """img2img and text-to-image with a Stable Diffusion pipeline, prompted with the caption."""

    def __init__(self, pipe: StableDiffusionPipeline, unet: torch.nn.Module, steps: int,
                 prompt: str, guidance_scale: float, device: torch.device) -> None:
        from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

        self.text2img = StableDiffusionPipeline.from_pipe(pipe, unet=unet).to(device)
        self.img2img = StableDiffusionImg2ImgPipeline.from_pipe(self.text2img)
        for p in (self.text2img, self.img2img):
            p.set_progress_bar_config(disable=True)
        self.steps = steps
        self.prompt = prompt
        self.guidance_scale = guidance_scale

    def stylise(self, image: Image.Image, strength: float, seed: int) -> Image.Image:
        """``image`` re-rendered by img2img at ``strength``."""
        return self.img2img(self.prompt, image=image, strength=strength,
                            num_inference_steps=self.steps, guidance_scale=self.guidance_scale,
                            generator=torch.Generator().manual_seed(seed)).images[0]

    def generate(self, n: int, seed: int) -> list[Image.Image]:
        """``n`` samples of the prompt at the pipeline's native size."""
        return self.text2img(self.prompt, num_images_per_prompt=n, num_inference_steps=self.steps,
                             guidance_scale=self.guidance_scale,
                             generator=torch.Generator().manual_seed(seed)).images


def style_guidance(backbone: Backbone, sample: ArtSample) -> float:
    """The guidance scale a run samples with: ``sample.style_guidance``, or by default 0.02
    for a pixel pipeline and 0 for Stable Diffusion, which refuses any other value (checked
    when the data are prepared, so a bad config fails before training)."""
    if backbone.extras["kind"] == "pixel":
        return PIXEL_STYLE_GUIDANCE if sample.style_guidance is None else sample.style_guidance
    if sample.style_guidance:
        raise TlgenError("config key 'sample.style_guidance' works with pixel-space pipelines "
                         "only; set it to 0 for a Stable Diffusion pipeline")
    return 0.0


def stylizer_for(backbone: Backbone, sample: ArtSample, data: ArtData, device: torch.device,
                 style_images: list[Image.Image] | None = None) -> PixelStylizer | LatentStylizer:
    """The stylizer for the backbone's kind, on its current (possibly LoRA) weights; with
    ``sample.style_guidance``, guided towards ``style_images`` (pixel pipelines only)."""
    unet = base_model(backbone.model).to(device)
    pipe = backbone.extras["pipeline"]
    scale = style_guidance(backbone, sample)
    if backbone.extras["kind"] == "pixel":
        guide = None
        if scale:
            from .guidance import StyleGuide

            if not style_images:
                raise TlgenError("sample.style_guidance needs the style images")
            guide = StyleGuide(style_images, sample.content_size, scale, device)
        return PixelStylizer(unet, pipe.scheduler.config, sample.steps, device, guide)
    return LatentStylizer(pipe, unet, sample.steps, sample.prompt or data.caption,
                          sample.guidance_scale, device)


def generate(stylizer: PixelStylizer | LatentStylizer, contents: dict[str, Image.Image],
             sample: ArtSample, n: int) -> list[Image.Image]:
    """Each content image at each strength, then ``n`` free samples; ``info`` says which."""
    out = []
    for i, (name, img) in enumerate(contents.items()):
        for strength in sample.strengths:
            styled = stylizer.stylise(img, strength, seed=sample.seed + i)
            styled.info.update(kind="stylised", content=name, strength=strength,
                               file=f"{name}_s{strength:.2f}.png")
            out.append(styled)
    for i, img in enumerate(stylizer.generate(n, seed=sample.seed) if n else []):
        img.info.update(kind="sample", index=i, file=f"sample_{i:03d}.png")
        out.append(img)
    return out


def save(folder: Path, samples: list[Image.Image], contents: dict[str, Image.Image]) -> None:
    """The samples as PNGs under their ``info["file"]`` names, and the content images they
    were made from as ``content_<name>.png``."""
    for name, img in contents.items():
        img.save(folder / f"content_{name}.png")
    for img in samples:
        img.save(folder / img.info["file"])
