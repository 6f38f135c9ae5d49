"""The art report: content | base | fine-tuned | Magenta baseline at each strength, a table
by strength, free samples and the style set, drawn from each stage's item rows; figures in
``<run>/figures/``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from tlgen.figures import figure_path, save_figure  # noqa: E402
from tlgen.types import DataSplits, StageResult  # noqa: E402

if TYPE_CHECKING:
    from pathlib import Path

    from matplotlib.figure import Figure

    from tlgen.run import Run

LABELS = {"before": "base", "after": "fine-tuned", "unguided": "tuned, no guid.",
          "magenta": "Magenta"}
# what a column's strength is: SDEdit's noise level, or the Magenta baseline's style blend
PARAMETER = {"magenta": "blend"}


def _label(stage: str) -> str:
    return LABELS.get(stage, stage)


def _caption(row: dict) -> str:
    parts = [f"style {row['style_dist']:.2f}"] if "style_dist" in row else []
    if row.get("judge") is not None:
        parts.append(f"judge {row['judge']:.3f}")
    if "ssim" in row:
        parts.append(f"SSIM {row['ssim']:.2f}")
    return " · ".join(parts)


def _tidy(fig: Figure) -> Figure:
    for ax in fig.axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


Scored = list[tuple[Image.Image, dict]]  # a stage's samples, each with its item_metrics row


def strength_grid(stages: dict[str, Scored], contents: dict[str, Image.Image],
                  bases: dict[str, dict[str, float]]) -> Figure | None:
    """One row per content image: the image, then each stage's output at each strength,
    with the distances to the style set (lower: closer) and SSIM under each (from the
    samples' rows; the content image's own distances from ``bases``)."""
    outputs = {stage: {(row["content"], row["strength"]): (img, row) for img, row in scored
                       if row["kind"] == "stylised"} for stage, scored in stages.items()}
    strengths = sorted({k[1] for found in outputs.values() for k in found})
    if not contents or not strengths:
        return None
    columns = [(s, stage) for s in strengths for stage in stages]
    fig, axes = plt.subplots(len(contents), 1 + len(columns), squeeze=False,
                             figsize=(2.1 * (1 + len(columns)), 2.3 * len(contents)))
    for row, (name, content) in enumerate(contents.items()):
        axes[row][0].imshow(content)
        own = {key: base[name] for key, base in bases.items()}
        axes[row][0].set_title(f"{name}\n{_caption(own)}", fontsize=8)
        for col, (strength, stage) in enumerate(columns, start=1):
            found = outputs[stage].get((name, strength))
            if found is not None:
                axes[row][col].imshow(found[0])
                axes[row][col].set_title(f"{_label(stage)} {PARAMETER.get(stage, 's')}="
                                         f"{strength:g}\n"
                                         f"{_caption(found[1])}", fontsize=8)
    return _tidy(fig)


def sample_sheet(stages: dict[str, Scored]) -> Figure | None:
    """The free (unconditional or prompted) samples, one row per stage."""
    rows = {stage: [img for img, row in scored if row["kind"] == "sample"]
            for stage, scored in stages.items()}
    rows = {stage: found for stage, found in rows.items() if found}
    if not rows:
        return None
    width = max(len(found) for found in rows.values())
    fig, axes = plt.subplots(len(rows), width, squeeze=False,
                             figsize=(1.4 * width, 1.7 * len(rows)))
    for r, (stage, found) in enumerate(rows.items()):
        for c, img in enumerate(found):
            axes[r][c].imshow(img)
        axes[r][0].set_title(_label(stage), fontsize=8, loc="left")
    return _tidy(fig)


def thumbnail_strip(images: list[Image.Image], height: int = 120) -> Image.Image:
    """The images side by side at one height."""
    thumbs = [img.resize((max(1, round(img.width * height / img.height)), height),
                         Image.Resampling.LANCZOS) for img in images]
    width = sum(t.width for t in thumbs) + 4 * (len(thumbs) - 1)
    strip = Image.new("RGB", (width, height), "white")
    x = 0
    for thumb in thumbs:
        strip.paste(thumb, (x, 0))
        x += thumb.width + 4
    return strip


def strength_table(metrics: dict[str, dict[str, float]]) -> dict:
    """Per strength (for the Magenta baseline: per blend), each stage's change of each style
    distance against the content image and its SSIM (a report table section)."""
    stages = [stage for stage, found in metrics.items() if found]
    strengths = dict.fromkeys(k.removeprefix("ssim_s") for found in metrics.values()
                              for k in found if k.startswith("ssim_s"))
    figures = [("style_change", "style change", "{:+.1%}"),
               ("judge_change", "judge change", "{:+.1%}"), ("ssim", "SSIM", "{:.3f}")]
    columns = ["strength", *(f"{title}, {_label(s)}" for _, title, _ in figures for s in stages)]
    rows = []
    for s in strengths:
        cells = [metrics[stage].get(f"{key}_s{s}") for key, _, _ in figures for stage in stages]
        fmts = [fmt for _, _, fmt in figures for _ in stages]
        rows.append([s, *(None if v is None else fmt.format(v) for v, fmt in zip(cells, fmts))])
    return {"columns": columns, "rows": rows}


def sections(run: Run, data: DataSplits, results: dict[str, StageResult]) -> list[dict]:
    """The report's sections for the stages in ``results`` and the Magenta baseline."""
    results = {**results, "magenta": magenta_stage(run, data)}
    stages = {name: list(zip(result.samples, result.items, strict=True))
              for name, result in results.items()}
    metrics = {name: result.metrics for name, result in results.items()}
    extras = data.extras
    return [
        {"title": "Style transfer: content | base model | fine-tuned | zero-shot Magenta, "
                  "at each strength",
         "note": "style: random-filter Gram distance to the style set; judge: cosine distance "
                 "in Magenta's style embedding (nothing in training or guidance optimises it); "
                 "lower is closer. SSIM: content kept. Magenta: its pretrained arbitrary "
                 "stylisation, no training, at style blend b = each strength (the baseline to "
                 "beat; the judge favours it). Per-image figures: scores.csv in each stage's "
                 "samples folder.",
         "image": _save(run, strength_grid(stages, extras["content_images"],
                                           extras["scorer"].bases), "style_transfer")},
        {"title": "Style transfer metrics by strength",
         "note": "Change of each distance of the output relative to its content image "
                 "(target: style change -50% at SSIM >= 0.5).",
         "table": strength_table(metrics)},
        {"title": "Free samples (unconditional or prompted)",
         "image": _save(run, sample_sheet(stages), "samples")},
        {"title": f"Style set ({run.config.data.style})",
         "image": _strip(run, extras["style_images"], "style_set")},
    ]


def _save(run: Run, fig: Figure | None, name: str) -> Path | None:
    return None if fig is None else save_figure(fig, run.dir, name, dpi=100)


def _strip(run: Run, images: list[Image.Image], name: str) -> Path:
    out = figure_path(run.dir, name)
    thumbnail_strip(images).save(out)
    return out


def magenta_stage(run: Run, data: DataSplits) -> StageResult:
    """The zero-shot Magenta baseline on the content images, at a style blend equal to each
    strength, measured like a stage and saved beside the stages' samples for the user."""
    from . import sampling
    from .baseline import MagentaBaseline

    contents = data.extras["content_images"]
    made = MagentaBaseline(data.extras["style_images"]).samples(contents,
                                                                run.config.sample.strengths)
    folder = run.samples_dir("magenta")
    sampling.save(folder, made, contents)
    scorer = data.extras["scorer"]
    return StageResult(samples=made, metrics=scorer.summary(made),
                       items=scorer.items(made, folder))
