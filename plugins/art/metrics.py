"""A stage's metrics: two style distances and content SSIM per strength, against the content.

The distances to the style set (``style_metrics``): ``style_dist``, a random-filter Gram
distance, and ``judge``, the cosine distance in Magenta's style embedding (judge.py), which
nothing in training or guidance optimises. ``measure`` gives one row per sample: what the
image is (``file``, ``kind``, ``content``, ``strength`` or ``index``, from its ``info``) and
its figures (each distance; for a stylised image also ``ssim`` and each distance's relative
change against its content image, ``style_change`` and ``judge_change``). Those rows are the
``item_metrics`` of a stage: the report and ``scores.csv`` beside the images read them, and
``summarise`` averages them.

``style_dist`` needs no pretrained network: the Gram matrices (second moments of feature
channels over positions, as in Gatys et al.) of the RGB pixels and of four layers of a
fixed, seeded random ReLU conv net with average pooling between layers (random filters
carry texture statistics well enough for texture synthesis: Ustyuzhaninov et al. 2017).
The style set's Gram matrices are averaged over its images; the distance of an image is
the mean over the five levels of ||G(image) - G(style)||_F / ||G(style)||_F. Everything is
compared at one scale: images are resized so their short side is ``size`` pixels.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from skimage.metrics import structural_similarity

from .data import resize_short_side, to_tensor
from .judge import StyleJudge

CHANNELS = (3, 32, 64, 64, 64)  # the random net's levels: RGB, then four conv layers
SEED = 1234
Metric = Callable[[Image.Image], float]
CHANGE = {"style_dist": "style_change", "judge": "judge_change"}  # each distance's change key
IDENTITY = ("file", "kind", "content", "strength", "index")  # what a sample is, from its info
COLUMNS = (*IDENTITY, "style_dist", "ssim", "style_change", "judge", "judge_change")


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


def style_metrics(style_images: list[Image.Image], size: int) -> dict[str, Metric]:
    """The distances to the style set, by name, comparing images at short side ``size``."""
    return {"style_dist": StyleDistance(style_images, size),
            "judge": StyleJudge(style_images, size)}


def content_distances(metrics: dict[str, Metric],
                      contents: dict[str, Image.Image]) -> dict[str, dict[str, float]]:
    """Each metric's distance of each content image (the baseline a stylised image's change
    is measured against)."""
    return {key: {name: metric(img) for name, img in contents.items()}
            for key, metric in metrics.items()}


def measure(samples: list[Image.Image], contents: dict[str, Image.Image],
            metrics: dict[str, Metric], bases: dict[str, dict[str, float]]) -> list[dict]:
    """One row per sample: what it is, each distance to the style set, and for a stylised
    image its SSIM to its content image and each distance's relative change against that
    content image's (``bases``; -0.5: halved)."""
    rows = []
    for img in samples:
        row = {key: img.info[key] for key in IDENTITY if key in img.info}
        row.update({key: metric(img) for key, metric in metrics.items()})
        if row["kind"] == "stylised":
            row["ssim"] = content_ssim(img, contents[row["content"]])
            row.update({CHANGE[key]: row[key] / bases[key][row["content"]] - 1
                        for key in metrics})
        rows.append(row)
    return rows


class Scorer:
    """What a stage's images are measured against, prepared once (``prepare_data``): the
    style metrics, the content images and their own distances. Asked again about the same
    images (``evaluate``, then ``item_metrics``, of one stage), it returns the rows it made,
    so a stage's images are measured once."""

    def __init__(self, style_images: list[Image.Image], contents: dict[str, Image.Image],
                 size: int) -> None:
        self.metrics = style_metrics(style_images, size)
        self.contents = contents
        self.bases = content_distances(self.metrics, contents)
        self._last: tuple[list[Image.Image], list[dict]] = ([], [])

    def rows(self, samples: list[Image.Image]) -> list[dict]:
        """``measure`` of ``samples`` against the content images (copies: the caller's)."""
        seen, rows = self._last
        if not (samples and len(seen) == len(samples)
                and all(a is b for a, b in zip(seen, samples))):
            rows = measure(samples, self.contents, self.metrics, self.bases)
            self._last = (list(samples), rows)
        return [dict(row) for row in rows]

    def summary(self, samples: list[Image.Image]) -> dict[str, float]:
        """A stage's metrics: ``summarise`` of the samples' rows."""
        return summarise(self.rows(samples), self.bases)

    def items(self, samples: list[Image.Image], folder: Path) -> list[dict]:
        """A stage's item metrics: the samples' rows, also written to ``folder/scores.csv``
        (after a row per content image) for the user."""
        rows = self.rows(samples)
        write_scores(folder / "scores.csv", rows, self.bases)
        return rows


def summarise(rows: list[dict], bases: dict[str, dict[str, float]]) -> dict[str, float]:
    """For each distance d (``style_dist``, ``judge``): ``d_content``, the content images
    themselves (the baseline); ``d_s{s}`` and its change (``style_change_s{s}``,
    ``judge_change_s{s}``), and ``ssim_s{s}``: the means of the images stylised at strength
    s; ``d_samples``: the free samples."""
    metrics = {f"{key}_content": float(np.mean(list(base.values())))
               for key, base in bases.items() if base}
    stylised = [r for r in rows if r["kind"] == "stylised"]
    for strength in sorted({i["strength"] for i in stylised}):
        found = [r for r in stylised if r["strength"] == strength]
        for key in (*bases, "ssim", *(CHANGE[k] for k in bases)):
            metrics[f"{key}_s{strength:g}"] = float(np.mean([r[key] for r in found]))
    free = [r for r in rows if r["kind"] == "sample"]
    if free:
        metrics.update({f"{key}_samples": float(np.mean([r[key] for r in free])) for key in bases})
    return metrics


def write_scores(path: Path, rows: list[dict], bases: dict[str, dict[str, float]]) -> None:
    """One CSV row per content image (its own distances) and per sample (its ``measure``
    row), for the user."""
    names = next(iter(bases.values()), {})
    contents = [{"file": f"content_{name}.png", "kind": "content", "content": name,
                 **{key: base[name] for key, base in bases.items()}} for name in names]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(contents + rows)


def read_scores(path: Path) -> list[dict]:
    """The rows of a ``scores.csv``, numbers as floats, None where empty or absent (runs
    before the judge have no ``judge`` columns); for benchmarks and notebooks."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for key in ("strength", "style_dist", "ssim", "style_change", "judge", "judge_change"):
            row[key] = float(row[key]) if row.get(key) else None
    return rows
