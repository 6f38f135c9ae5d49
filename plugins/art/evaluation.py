"""A stage's metrics: two style distances and content SSIM per strength, against the content.

The distances to the style set (``style_metrics``): ``style_dist``, the random-filter Gram
distance (style.py), and ``judge``, the cosine distance in Magenta's style embedding
(judge.py), which nothing in training or guidance optimises. Each sample's own figures go
into its ``info`` (each distance; for a stylised image also ``ssim`` and each distance's
relative change against its content image, ``style_change`` and ``judge_change``), so they
travel with the stage's samples to the report, and into ``scores.csv`` beside the images,
for the user."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from .judge import StyleJudge
from .style import StyleDistance, content_ssim

Metric = Callable[[Image.Image], float]
CHANGE = {"style_dist": "style_change", "judge": "judge_change"}  # each distance's change key
COLUMNS = ("file", "kind", "content", "strength", "index", "style_dist", "ssim", "style_change",
           "judge", "judge_change")


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
            metrics: dict[str, Metric], bases: dict[str, dict[str, float]]) -> None:
    """Add each sample's figures to its ``info``: each distance to the style set, and for a
    stylised image its SSIM to its content image and each distance's relative change against
    that content image's (``bases``; -0.5: halved)."""
    for img in samples:
        info = img.info
        for key, metric in metrics.items():
            info[key] = metric(img)
        if info["kind"] == "stylised":
            info["ssim"] = content_ssim(img, contents[info["content"]])
            for key in metrics:
                info[CHANGE[key]] = info[key] / bases[key][info["content"]] - 1


def summarise(infos: list[dict], bases: dict[str, dict[str, float]]) -> dict[str, float]:
    """For each distance d (``style_dist``, ``judge``): ``d_content``, the content images
    themselves (the baseline); ``d_s{s}`` and its change (``style_change_s{s}``,
    ``judge_change_s{s}``), and ``ssim_s{s}``: the means of the images stylised at strength
    s; ``d_samples``: the free samples."""
    metrics = {f"{key}_content": float(np.mean(list(base.values())))
               for key, base in bases.items() if base}
    stylised = [i for i in infos if i["kind"] == "stylised"]
    for strength in sorted({i["strength"] for i in stylised}):
        rows = [i for i in stylised if i["strength"] == strength]
        for key in (*bases, "ssim", *(CHANGE[k] for k in bases)):
            metrics[f"{key}_s{strength:g}"] = float(np.mean([i[key] for i in rows]))
    free = [i for i in infos if i["kind"] == "sample"]
    if free:
        metrics.update({f"{key}_samples": float(np.mean([i[key] for i in free])) for key in bases})
    return metrics


def write_scores(path: Path, infos: list[dict], bases: dict[str, dict[str, float]]) -> None:
    """One CSV row per content image and per sample, with its figures (for the user)."""
    names = next(iter(bases.values()), {})
    rows = [{"file": f"content_{name}.png", "kind": "content", "content": name,
             **{key: base[name] for key, base in bases.items()}} for name in names]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows + infos)


def read_scores(path: Path) -> list[dict]:
    """The rows of a ``scores.csv``, numbers as floats, None where empty or absent (runs
    before the judge have no ``judge`` columns); for benchmarks and notebooks."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for key in ("strength", "style_dist", "ssim", "style_change", "judge", "judge_change"):
            row[key] = float(row[key]) if row.get(key) else None
    return rows
