"""The art domain: style transfer with diffusion models (diffusers).

A diffusion UNet pretrained on generic images is fine-tuned on a few paintings (the
shipped default: a small pixel-space DDPM and eight Van Gogh paintings; or any Stable
Diffusion pipeline, with LoRA on its attention), then re-renders content photos by
SDEdit at several strengths. Metrics: a Gram-matrix style distance to the paintings, an
independent judge (distance in Magenta's style embedding) and content SSIM, before vs after
fine-tuning.

Nothing heavy is imported here: torch and diffusers load inside the hooks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlgen import TlgenError, hookimpl

from .config import ArtBackbone, ArtData, ArtSample

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from tlgen.run import Run
    from tlgen.types import Backbone, DataSplits, LayerMap, StageResult


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
        shipped = name == str(backbones.SHIPPED)
        if shipped and not (backbones.SHIPPED / "model_index.json").is_file():
            raise TlgenError(f"the shipped backbone is missing from {backbones.SHIPPED}; build it "
                             "with `tlgen run --config examples/art/pretrain_backbone.toml`")
        pipe = backbones.load_pipeline(name)
    return backbones.to_backbone(pipe, name)


@hookimpl
def prepare_data(run: Run, backbone: Backbone) -> DataSplits:
    from tlgen.types import DataSplits

    from .datasets import Collate, RandomCrops
    from .stylizers import style_guidance

    cfg = run.config.data
    style_guidance(backbone, run.config.sample)  # refuses guidance a pipeline cannot take
    if backbone.extras["kind"] == "latent" and cfg.crop % 8:
        raise TlgenError(f"config key 'data.crop': {cfg.crop} must be a multiple of 8 for a "
                         "latent diffusion pipeline")
    pictures = _style_images(run)
    held = cfg.validation_images if len(pictures) > cfg.validation_images else 0
    if held < cfg.validation_images:
        run.log(f"note: only {len(pictures)} style image(s); none held out for validation")
    train, validation = pictures[: len(pictures) - held], pictures[len(pictures) - held:]
    run.log(f"style set: {len(train)} training, {len(validation)} validation image(s) "
            f"from {cfg.style}; {cfg.crop}px crops")
    return DataSplits(
        train=RandomCrops(train, cfg.crop, cfg.zoom, cfg.crops_per_image, seed=run.config.seed),
        validation=RandomCrops(validation, cfg.crop, cfg.zoom, cfg.crops_per_image,
                               seed=run.config.seed + 1) if validation else None,
        collate_fn=Collate(_caption_ids(backbone, cfg.caption)),
        count_key=None,
        unit="images",
        extras={"style_images": pictures, **_references(run, backbone, pictures)},
    )


def _style_images(run: Run) -> list[Image.Image]:
    """The style set. An image too small to carry texture (short side under 32 px, or the
    crop if that is smaller) is refused; one smaller than the crop is upscaled, with a
    warning naming it."""
    from . import images

    cfg = run.config.data
    found = images.load(cfg.style, "data.style", min(images.MIN_SIDE, cfg.crop))
    for path, img in found:
        if min(img.size) < cfg.crop:
            run.log(f"warning: style image {path} is {img.width}x{img.height} px, smaller than "
                    f"the {cfg.crop} px crop: it is upscaled, so its crops are blurred")
    return [img for _, img in found]


def _caption_ids(backbone: Backbone, caption: str) -> torch.Tensor | None:
    """The caption's token ids for a text-conditioned pipeline (None: unconditional)."""
    tok = backbone.tokenizer
    if tok is None:
        return None
    return tok(caption, padding="max_length", max_length=tok.model_max_length, truncation=True,
               return_tensors="pt").input_ids


def _references(run: Run, backbone: Backbone, style_images: list[Image.Image]) -> dict:
    """What sample, evaluate and report share, prepared once: the content images to
    stylise and the scorer (style distances and judge, each content image's own distances,
    the baseline a stylised image's change is measured against)."""
    from .evaluation import Scorer
    from .samples import content_images
    from .stylizers import size_multiple

    cfg = run.config
    contents = content_images(cfg.data, cfg.sample, size_multiple(backbone))
    return {"content_images": contents,
            "scorer": Scorer(style_images, contents, cfg.sample.content_size)}


@hookimpl
def layer_map(backbone: Backbone) -> LayerMap:
    from .backbones import layer_map as unet_layer_map

    return unet_layer_map(backbone.model)


@hookimpl
def loss(backbone: Backbone, model: torch.nn.Module, batch: dict) -> torch.Tensor:
    from .objective import noise_prediction_loss

    return noise_prediction_loss(backbone, model, batch)


@hookimpl
def sample(run: Run, backbone: Backbone, data: DataSplits, n: int, stage: str) -> list:
    from . import samples
    from .stylizers import stylizer_for

    cfg = run.config
    stylizer = stylizer_for(backbone, cfg.sample, cfg.data, run.device, data.extras["style_images"])
    contents = data.extras["content_images"]
    made = samples.generate(stylizer, contents, cfg.sample, n)
    folder = run.samples_dir(stage)
    samples.save(folder, made, contents)
    run.log(f"{stage}: {len(made)} images in {folder}")
    return made


@hookimpl
def evaluate(data: DataSplits, samples: list) -> dict[str, float]:
    from .evaluation import summarise

    scorer = data.extras["scorer"]
    return summarise(scorer.rows(samples), scorer.bases)


@hookimpl
def item_metrics(run: Run, data: DataSplits, samples: list, stage: str) -> list[dict]:
    """One row per image (what it is, its distances, SSIM and changes), also written to
    ``scores.csv`` in the stage's samples folder for the user."""
    from .evaluation import write_scores

    scorer = data.extras["scorer"]
    rows = scorer.rows(samples)
    write_scores(run.samples_dir(stage) / "scores.csv", rows, scorer.bases)
    return rows


@hookimpl
def report(run: Run, data: DataSplits, results: dict[str, StageResult]) -> list[dict]:
    from . import figures

    out = run.dir / "figures"
    out.mkdir(exist_ok=True)
    results = {**results, "magenta": _magenta(run, data)}
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
         "image": figures.strength_grid(stages, extras["content_images"],
                                        extras["scorer"].bases, out / "style_transfer.png")},
        {"title": "Style transfer metrics by strength",
         "note": "Change of each distance of the output relative to its content image "
                 "(target: style change -50% at SSIM >= 0.5).",
         "table": figures.strength_table(metrics)},
        {"title": "Free samples (unconditional or prompted)",
         "image": figures.sample_sheet(stages, out / "samples.png")},
        {"title": f"Style set ({run.config.data.style})",
         "image": figures.thumbnail_strip(extras["style_images"], out / "style_set.png")},
    ]


def _magenta(run: Run, data: DataSplits) -> StageResult:
    """The zero-shot Magenta baseline on the content images, at a style blend equal to each
    strength, measured like a stage and saved beside the stages' samples for the user."""
    from tlgen.types import StageResult

    from . import samples
    from .baseline import MagentaBaseline

    contents = data.extras["content_images"]
    made = MagentaBaseline(data.extras["style_images"]).samples(contents,
                                                                run.config.sample.strengths)
    samples.save(run.samples_dir("magenta"), made, contents)
    return StageResult(samples=made, metrics=evaluate(data, made),
                       items=item_metrics(run, data, made, "magenta"))


@hookimpl
def export(backbone: Backbone, out_dir: Path, merge: bool) -> Path:
    from .backbones import export as save_pipeline

    return save_pipeline(backbone, out_dir, merge)
