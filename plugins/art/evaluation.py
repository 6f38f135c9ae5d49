"""A stage's metrics: style distance and content SSIM per strength, against the content image.

Each sample's own figures go into its ``info`` (``style_dist``; for a stylised image also
``ssim`` and ``style_change``), so they travel with the stage's samples to the report, and
into ``scores.csv`` beside the images, for the user."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from .style import StyleDistance, content_ssim

COLUMNS = ("file", "kind", "content", "strength", "index", "style_dist", "ssim", "style_change")


def measure(samples: list[Image.Image], contents: dict[str, Image.Image],
            base: dict[str, float], style: StyleDistance) -> None:
    """Add each sample's figures to its ``info``: style distance to the style set, and for a
    stylised image its SSIM to its content image and the relative change of style distance
    against that content image's (``base``; -0.5: halved)."""
    for img in samples:
        info = img.info
        info["style_dist"] = style(img)
        if info["kind"] == "stylised":
            info["ssim"] = content_ssim(img, contents[info["content"]])
            info["style_change"] = info["style_dist"] / base[info["content"]] - 1


def summarise(infos: list[dict], base: dict[str, float]) -> dict[str, float]:
    """``style_dist_content``: the content images themselves (the baseline);
    ``style_dist_s{s}``, ``ssim_s{s}``, ``style_change_s{s}``: the means of the images
    stylised at strength s; ``style_dist_samples``: the free samples."""
    metrics = {"style_dist_content": float(np.mean(list(base.values())))} if base else {}
    stylised = [i for i in infos if i["kind"] == "stylised"]
    for strength in sorted({i["strength"] for i in stylised}):
        rows = [i for i in stylised if i["strength"] == strength]
        for key in ("style_dist", "ssim", "style_change"):
            metrics[f"{key}_s{strength:g}"] = float(np.mean([i[key] for i in rows]))
    free = [i["style_dist"] for i in infos if i["kind"] == "sample"]
    if free:
        metrics["style_dist_samples"] = float(np.mean(free))
    return metrics


def write_scores(path: Path, infos: list[dict], base: dict[str, float]) -> None:
    """One CSV row per content image and per sample, with its figures (for the user)."""
    rows = [{"file": f"content_{name}.png", "kind": "content", "content": name,
             "style_dist": dist} for name, dist in base.items()]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows + infos)


def read_scores(path: Path) -> list[dict]:
    """The rows of a ``scores.csv``, numbers as floats (for benchmarks and notebooks)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for key in ("strength", "style_dist", "ssim", "style_change"):
            row[key] = float(row[key]) if row[key] else None
    return rows
