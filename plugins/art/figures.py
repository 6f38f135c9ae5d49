"""Report figures: content | base | fine-tuned at each strength, free samples, the style set."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from .samples import read_manifest  # noqa: E402


def _caption(entry: dict) -> str:
    parts = [f"style {entry['style_dist']:.2f}"] if "style_dist" in entry else []
    if "ssim" in entry:
        parts.append(f"SSIM {entry['ssim']:.2f}")
    return " · ".join(parts)


def strength_grid(stages: dict[str, Path], out: Path) -> Path | None:
    """One row per content image: the image, then each stage's output at each strength,
    with style distance (lower: closer to the style set) and SSIM under each."""
    manifests = {stage: read_manifest(folder) for stage, folder in stages.items()}
    outputs = {stage: {(e["content"], e["strength"]): e for e in m["samples"]
                       if e["kind"] == "stylised"} for stage, m in manifests.items()}
    first_stage = next(iter(stages))
    names = list(manifests[first_stage]["content"])
    strengths = sorted({k[1] for found in outputs.values() for k in found})
    if not names or not strengths:
        return None
    columns = [(s, stage) for s in strengths for stage in stages]
    fig, axes = plt.subplots(len(names), 1 + len(columns), squeeze=False,
                             figsize=(2.1 * (1 + len(columns)), 2.3 * len(names)))
    for row, name in enumerate(names):
        content = manifests[first_stage]["content"][name]
        axes[row][0].imshow(Image.open(stages[first_stage] / content["file"]))
        axes[row][0].set_title(f"{name}\n{_caption(content)}", fontsize=8)
        for col, (strength, stage) in enumerate(columns, start=1):
            entry = outputs[stage].get((name, strength))
            if entry:
                axes[row][col].imshow(Image.open(stages[stage] / entry["file"]))
                label = "base" if stage == "before" else "fine-tuned"
                axes[row][col].set_title(f"{label} s={strength:g}\n{_caption(entry)}", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def sample_sheet(stages: dict[str, Path], out: Path) -> Path | None:
    """The free (unconditional or prompted) samples, one row per stage."""
    rows = {stage: [e for e in read_manifest(folder)["samples"] if e["kind"] == "sample"]
            for stage, folder in stages.items()}
    rows = {stage: found for stage, found in rows.items() if found}
    if not rows:
        return None
    width = max(len(found) for found in rows.values())
    fig, axes = plt.subplots(len(rows), width, squeeze=False,
                             figsize=(1.4 * width, 1.7 * len(rows)))
    for r, (stage, found) in enumerate(rows.items()):
        for c, entry in enumerate(found):
            axes[r][c].imshow(Image.open(stages[stage] / entry["file"]))
        axes[r][0].set_title("base" if stage == "before" else "fine-tuned", fontsize=8, loc="left")
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def thumbnail_strip(images: list[Image.Image], out: Path, height: int = 120) -> Path:
    """The images side by side at one height."""
    thumbs = [img.resize((max(1, round(img.width * height / img.height)), height),
                         Image.Resampling.LANCZOS) for img in images]
    strip = Image.new("RGB", (sum(t.width for t in thumbs) + 4 * (len(thumbs) - 1), height), "white")
    x = 0
    for thumb in thumbs:
        strip.paste(thumb, (x, 0))
        x += thumb.width + 4
    strip.save(out)
    return out
