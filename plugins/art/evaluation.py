"""A stage's metrics: two style distances and content SSIM per strength, against the content.

The distances to the style set (``style_metrics``): ``style_dist``, the random-filter Gram
distance (style.py), and ``judge``, the cosine distance in Magenta's style embedding
(judge.py), which nothing in training or guidance optimises. ``measure`` gives one row per
sample: what the image is (``file``, ``kind``, ``content``, ``strength`` or ``index``, from
its ``info``) and its figures (each distance; for a stylised image also ``ssim`` and each
distance's relative change against its content image, ``style_change`` and
``judge_change``). Those rows are the ``item_metrics`` of a stage: the report and
``scores.csv`` beside the images read them, and ``summarise`` averages them."""

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
IDENTITY = ("file", "kind", "content", "strength", "index")  # what a sample is, from its info
COLUMNS = (*IDENTITY, "style_dist", "ssim", "style_change", "judge", "judge_change")


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
    style metrics, the content images and their own distances. ``rows`` measures a list of
    samples; asked again for the same images (``evaluate``, then ``item_metrics``, of one
    stage) it returns the rows it made, so a stage's images are measured once."""

    def __init__(self, style_images: list[Image.Image], contents: dict[str, Image.Image],
                 size: int) -> None:
        self.metrics = style_metrics(style_images, size)
        self.contents = contents
        self.bases = content_distances(self.metrics, contents)
        self._last: tuple[list[Image.Image], list[dict]] = ([], [])

    def rows(self, samples: list[Image.Image]) -> list[dict]:
        """``measure`` of ``samples`` against the content images."""
        seen, rows = self._last
        if not (samples and len(seen) == len(samples)
                and all(a is b for a, b in zip(seen, samples))):
            rows = measure(samples, self.contents, self.metrics, self.bases)
            self._last = (list(samples), rows)
        return [dict(row) for row in rows]


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
