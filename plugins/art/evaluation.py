"""A stage's metrics: style distance and content SSIM per strength, against the content image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from . import samples as stored
from .style import StyleDistance, content_ssim


def evaluate(samples: list[Image.Image], folder: Path, style: StyleDistance) -> dict[str, float]:
    """Measure the content images and each sample (in the manifest's order), add the figures
    to the stage's manifest, and summarise them."""
    manifest = stored.read_manifest(folder)
    contents = {name: Image.open(folder / entry["file"]).convert("RGB")
                for name, entry in manifest["content"].items()}
    for name, img in contents.items():
        manifest["content"][name]["style_dist"] = style(img)
    for img, entry in zip(samples, manifest["samples"], strict=True):
        entry["style_dist"] = style(img)
        if entry["kind"] == "stylised":
            entry["ssim"] = content_ssim(img, contents[entry["content"]])
    stored.write_manifest(folder, manifest)
    return summarise(manifest)


def summarise(manifest: dict) -> dict[str, float]:
    """``style_dist_content``: the content images themselves (the baseline);
    ``style_dist_s{s}``, ``ssim_s{s}``: stylised at strength s; ``style_change_s{s}``: mean
    relative change of style distance against each image's content (-0.5: halved);
    ``style_dist_samples``: the free samples."""
    base = {name: e["style_dist"] for name, e in manifest["content"].items()}
    entries = manifest["samples"]
    metrics = {"style_dist_content": float(np.mean(list(base.values())))} if base else {}
    for strength in sorted({e["strength"] for e in entries if e["kind"] == "stylised"}):
        rows = [e for e in entries if e["kind"] == "stylised" and e["strength"] == strength]
        metrics[f"style_dist_s{strength:g}"] = float(np.mean([e["style_dist"] for e in rows]))
        metrics[f"ssim_s{strength:g}"] = float(np.mean([e["ssim"] for e in rows]))
        metrics[f"style_change_s{strength:g}"] = float(np.mean(
            [e["style_dist"] / base[e["content"]] - 1 for e in rows]))
    free = [e["style_dist"] for e in entries if e["kind"] == "sample"]
    if free:
        metrics["style_dist_samples"] = float(np.mean(free))
    return metrics
