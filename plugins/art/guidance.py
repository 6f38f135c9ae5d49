"""Style guidance for pixel diffusion sampling: a Gram-matrix style loss against the style set
(Gatys et al. 2016) whose gradient moves each step's clean-image prediction.

SDEdit alone keeps the photo's palette: the model only re-draws what the noise hides. The
guide pushes the prediction towards the paintings' statistics at every step, so colours and
brush textures change while the photo's layout (what the noise kept) stays. The levels are
the pixels' own Gram matrix (the palette; with VGG layers alone a night photo matched the
paintings' VGG statistics and stayed dark) and four VGG16 layers. Images are seen at half
the size they are judged at: a quarter of the cost, smoother pushes (full-size gradients
left a fine speckle) and a better style change for the SSIM given up.

Measured on the fine-tuned shipped DDPM, the four skimage photos at strength 0.3 and scale
0.02: style change -2% -> -51%, SSIM 0.70 -> 0.57, and the independent judge's change
-26% -> -67% (VGG layers alone at full size: -28%, 0.57, judge -54%).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image

from .data import resize_short_side, to_tensor
from .metrics import gram
from .vgg import STYLE_LAYERS, VGG16Features


class StyleGuide:
    """The Gram loss of images against the mean Gram matrices of a style set, and the guidance
    step that lowers it. The style images are taken at the scale the outputs are judged at
    (short side ``size`` pixels), then both are reduced by ``downscale``."""

    def __init__(self, style_images: list[Image.Image], size: int, scale: float,
                 device: torch.device, layers: tuple[str, ...] = STYLE_LAYERS,
                 downscale: int = 2) -> None:
        self.vgg = VGG16Features(layers).to(device)
        self.scale = scale
        self.downscale = downscale
        with torch.no_grad():
            grams = [self.grams(to_tensor(resize_short_side(img.convert("RGB"), size))[None]
                                .to(device)) for img in style_images]
        self.target = [torch.stack(level).mean(0)[0] for level in zip(*grams)]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The levels a [-1, 1] batch is compared at: its pixels (reduced by ``downscale``),
        then each VGG layer."""
        if self.downscale > 1:
            x = F.interpolate(x, scale_factor=1 / self.downscale, mode="bilinear",
                              antialias=True)
        return [x, *self.vgg(x)]

    def grams(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, C) Gram matrices of a [-1, 1] batch: its pixels, then each VGG layer."""
        return [gram(f) for f in self.features(x)]

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Per image of a [-1, 1] batch: the mean over levels of ||G - G_style||^2 /
        ||G_style||^2 (relative, so that no level dominates by its scale)."""
        return self.gram_loss([gram(f) for f in self.features(x)])

    def gram_loss(self, grams: list[torch.Tensor]) -> torch.Tensor:
        """``loss`` from a batch's Gram matrices (one per level)."""
        levels = [(g - t).pow(2).sum((1, 2)) / t.pow(2).sum()
                  for g, t in zip(grams, self.target)]
        return torch.stack(levels).mean(0)

    def step(self, x0: torch.Tensor) -> torch.Tensor:
        """The change to make to a predicted clean image: down the loss gradient, normalised
        per image to an RMS of ``scale`` (in [-1, 1] pixel units), so that one scale means
        the same push for every image, size and loss level."""
        with torch.enable_grad():
            x = x0.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.loss(x).sum(), x)
        rms = grad.pow(2).mean((1, 2, 3), keepdim=True).sqrt()
        return -self.scale * grad / (rms + 1e-12)
