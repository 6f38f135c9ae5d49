"""Metrics: a Gram-matrix style distance to the style set, and content SSIM.

Style features are computed offline, with no pretrained network: the Gram matrices
(second moments of feature channels over positions, as in Gatys et al.) of the RGB
pixels and of four layers of a fixed, seeded random ReLU conv net with average
pooling between layers (random filters carry texture statistics well enough for
texture synthesis: Ustyuzhaninov et al. 2017). The style set's Gram matrices are
averaged over its images; the distance of an image is the mean over the five levels
of ||G(image) - G(style)||_F / ||G(style)||_F. Everything is compared at one scale:
images are resized so their short side is ``size`` pixels.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from skimage.metrics import structural_similarity

from .datasets import to_tensor
from .images import resize_short_side

CHANNELS = (3, 32, 64, 64, 64)
SEED = 1234


def _random_filters() -> list[torch.Tensor]:
    """Zero-mean 3x3 filters with He scaling, the same on every machine (seeded)."""
    gen = torch.Generator().manual_seed(SEED)
    filters = []
    for cin, cout in pairwise(CHANNELS):
        w = torch.randn(cout, cin, 3, 3, generator=gen)
        w = w - w.mean(dim=(1, 2, 3), keepdim=True)
        filters.append(w * (2.0 / (cin * 9)) ** 0.5)
    return filters


def gram(features: torch.Tensor) -> torch.Tensor:
    """(B, C, C) channel second moments over positions of a (B, C, H, W) batch, divided by
    the number of positions (comparable across image sizes)."""
    flat = features.flatten(2)
    return flat @ flat.transpose(1, 2) / flat.shape[2]


class StyleDistance:
    """Distance of an image's feature statistics to those of a style set (0: identical)."""

    def __init__(self, style_images: list[Image.Image], size: int) -> None:
        self.size = size
        self.filters = _random_filters()
        grams = [self.grams(img) for img in style_images]
        self.reference = [torch.stack(level).mean(0) for level in zip(*grams)]

    @torch.no_grad()
    def grams(self, img: Image.Image) -> list[torch.Tensor]:
        """Gram matrices of the pixels and of each conv layer."""
        x = to_tensor(resize_short_side(img, self.size))[None]
        out = [gram(x)[0]]
        for i, w in enumerate(self.filters):
            x = F.relu(F.conv2d(x, w, padding=1))
            out.append(gram(x)[0])
            if i < len(self.filters) - 1:
                x = F.avg_pool2d(x, 2)
        return out

    def __call__(self, img: Image.Image) -> float:
        levels = [torch.linalg.norm(g - r) / torch.linalg.norm(r)
                  for g, r in zip(self.grams(img), self.reference)]
        return float(torch.stack(levels).mean())


def held_out_distances(style_images: list[Image.Image], size: int) -> list[float]:
    """Each style image's distance to the other style images (leave one out): what the
    metric calls "in style", the scale to read other distances against."""
    return [StyleDistance(style_images[:i] + style_images[i + 1:], size)(img)
            for i, img in enumerate(style_images)]


def content_ssim(output: Image.Image, content: Image.Image) -> float:
    """SSIM of the luminance of ``output`` against ``content`` (resized to match): structure
    kept, whatever the palette."""
    if output.size != content.size:
        content = content.resize(output.size, Image.Resampling.BICUBIC)
    a, b = (np.asarray(im.convert("L"), dtype=np.float64) / 255.0 for im in (output, content))
    return float(structural_similarity(a, b, data_range=1.0))
