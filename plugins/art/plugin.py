"""The art domain: style transfer with diffusion models (diffusers).

A diffusion UNet pretrained on generic images is fine-tuned on a few paintings (the
shipped default: a small pixel-space DDPM and eight Van Gogh paintings; or any Stable
Diffusion pipeline, with LoRA on its attention), then re-renders content photos by
SDEdit at several strengths. Metrics: a Gram-matrix style distance to the paintings and
content SSIM, before vs after fine-tuning.

Nothing heavy is imported here: torch and diffusers load inside the hooks.
"""

from __future__ import annotations

import html
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlgen import TlgenError, hookimpl

from .config import ArtBackbone, ArtData, ArtSample

if TYPE_CHECKING:
    import torch

    from tlgen.run import Run
    from tlgen.types import Backbone, DataSplits, LayerMap

# The loss hook is given the model only; it finds the run's VAE, text encoder and noise
# scheduler here.
_BACKBONES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@hookimpl
def config_schema() -> dict[str, type]:
    return {"backbone": ArtBackbone, "data": ArtData, "sample": ArtSample}


@hookimpl
def default_train_config() -> dict[str, Any]:
    return {
        "train": {"max_steps": 300, "batch_size": 16, "lr": 2e-4, "warmup_steps": 20,
                  "eval_every": 100, "eval_batches": 2, "save_every": 100, "log_every": 10},
        "freeze": {"strategy": "freeze-first:3"},  # the shipped UNet's down path
    }


@hookimpl
def load_backbone(run: Run, path: str | None) -> Backbone:
    from . import backbones

    cfg = run.config.backbone
    if cfg.from_scratch:
        pipe, name = backbones.new_pixel_pipeline(cfg), "new pixel DDPM"
    else:
        name = path or cfg.path or str(backbones.SHIPPED)
        if name == str(backbones.SHIPPED) and not (backbones.SHIPPED / "model_index.json").is_file():
            raise TlgenError(f"the shipped backbone is missing from {backbones.SHIPPED}; build it "
                             "with `tlgen run --config examples/art/pretrain_backbone.toml`")
        pipe = backbones.load_pipeline(name)
    backbone = backbones.to_backbone(pipe, name)
    _BACKBONES[run] = backbone
    return backbone


@hookimpl
def prepare_data(run: Run, backbone: Backbone) -> DataSplits:
    from tlgen.types import DataSplits

    from . import images
    from .datasets import Collate, RandomCrops

    cfg = run.config.data
    if backbone.extras["kind"] == "latent" and cfg.crop % 8:
        raise TlgenError(f"config key 'data.crop': {cfg.crop} must be a multiple of 8 for a "
                         "latent diffusion pipeline")
    style = images.load(cfg.style, "data.style")
    for name, img in style:
        if min(img.size) < cfg.crop:
            run.log(f"note: style image {name} is {img.width}x{img.height}, smaller than the "
                    f"{cfg.crop}px crop; it is resized up")
    held = cfg.validation_images if len(style) > cfg.validation_images else 0
    if held < cfg.validation_images:
        run.log(f"note: only {len(style)} style image(s); none held out for validation")
    pictures = [img for _, img in style]
    train, validation = pictures[: len(pictures) - held], pictures[len(pictures) - held:]
    ids = None
    if backbone.tokenizer is not None:
        tok = backbone.tokenizer
        ids = tok(cfg.caption, padding="max_length", max_length=tok.model_max_length,
                  truncation=True, return_tensors="pt").input_ids
    run.log(f"style set: {len(train)} training, {len(validation)} validation image(s) "
            f"from {cfg.style}; {cfg.crop}px crops")
    return DataSplits(
        train=RandomCrops(train, cfg.crop, cfg.zoom, cfg.crops_per_image, seed=run.config.seed),
        validation=RandomCrops(validation, cfg.crop, cfg.zoom, cfg.crops_per_image,
                               seed=run.config.seed + 1) if validation else None,
        collate_fn=Collate(ids),
        count_key=None,
        unit="images",
        extras={"style_images": pictures},
    )


@hookimpl
def layer_map(backbone: Backbone) -> LayerMap:
    from .backbones import layer_map as unet_layer_map

    return unet_layer_map(backbone.model)


@hookimpl
def loss(run: Run, model: torch.nn.Module, batch: dict) -> torch.Tensor:
    from .objective import noise_prediction_loss

    return noise_prediction_loss(_BACKBONES[run], model, batch)


@hookimpl
def sample(run: Run, backbone: Backbone, n: int, stage: str) -> list:
    from . import samples
    from .stylizers import stylizer_for

    cfg = run.config
    stylizer = stylizer_for(backbone, cfg.sample, cfg.data, run.device)
    contents = samples.content_images(cfg.data, cfg.sample, stylizer.multiple)
    made = samples.generate(stylizer, contents, cfg.sample, n)
    samples.save(run.dir / "samples" / stage, made, contents)
    run.log(f"{stage}: {len(made)} images in {run.dir / 'samples' / stage}")
    return made


@hookimpl
def evaluate(run: Run, samples: list, data: DataSplits, stage: str) -> dict[str, float]:
    from .evaluation import evaluate as measure
    from .style import StyleDistance

    style = StyleDistance(data.extras["style_images"], run.config.sample.content_size)
    return measure(samples, run.dir / "samples" / stage, style)


@hookimpl
def report(run: Run, metrics: dict[str, dict[str, float]]) -> list[dict]:
    from . import figures, images

    stages = {s: run.dir / "samples" / s for s in ("before", "after")
              if (run.dir / "samples" / s / "manifest.json").is_file()}
    out = run.dir / "figures"
    out.mkdir(exist_ok=True)
    style = [img for _, img in images.load(run.config.data.style, "data.style")]
    return [
        {"title": "Style transfer: content | base model | fine-tuned, at each strength "
                  "(style: distance to the style set, lower is closer; SSIM: content kept)",
         "image": figures.strength_grid(stages, out / "style_transfer.png")},
        {"title": "Style transfer metrics by strength", "html": _strength_table(metrics)},
        {"title": "Free samples (unconditional or prompted)",
         "image": figures.sample_sheet(stages, out / "samples.png")},
        {"title": f"Style set ({run.config.data.style})",
         "image": figures.thumbnail_strip(style, out / "style_set.png")},
    ]


def _strength_table(metrics: dict[str, dict[str, float]]) -> str:
    """Style change vs the content image and SSIM, base vs fine-tuned, one row per strength."""
    before, after = metrics.get("before", {}), metrics.get("after", {})

    def fmt(stage: dict[str, float], key: str) -> str:
        value = stage.get(key)
        return "" if value is None else f"{value:+.0%}" if "change" in key else f"{value:.3f}"

    rows = []
    for s in (k.removeprefix("ssim_s") for k in after if k.startswith("ssim_s")):
        cells = [fmt(m, f"{k}_s{s}") for k in ("style_change", "ssim") for m in (before, after)]
        rows.append(f"<tr><td>{html.escape(s)}</td>" + "".join(f"<td>{c}</td>" for c in cells)
                    + "</tr>")
    return ("<p>Style change: style distance of the output relative to its content image "
            "(target -50% at SSIM &ge; 0.5).</p><table><tr><th>strength</th>"
            "<th>style change, base</th><th>style change, fine-tuned</th><th>SSIM, base</th>"
            "<th>SSIM, fine-tuned</th></tr>" + "".join(rows) + "</table>")


@hookimpl
def export(backbone: Backbone, out_dir: Path, merge: bool) -> Path:
    from .backbones import export as save_pipeline

    return save_pipeline(backbone, out_dir, merge)
