"""The art domain: style transfer with diffusion models (diffusers).

A diffusion UNet pretrained on generic images is fine-tuned on a few paintings (the
shipped default: a small pixel-space DDPM and eight Van Gogh paintings; or any Stable
Diffusion pipeline, with LoRA on its attention), then re-renders content photos by
SDEdit at several strengths. A pixel UNet's fine-tuning loss also carries a style transfer
term (loss.StyleTransferLoss: the Gram style loss of its clean-image predictions from
noised photos), so that the tuned weights restyle a photo without sampling-time guidance.
Metrics: a Gram-matrix style distance to the paintings, an independent judge (distance in
Magenta's style embedding) and content SSIM, before vs after fine-tuning.

Nothing heavy is imported here: torch and diffusers load inside the hooks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tlgen import TlgenError, hookimpl

from .config import ArtBackbone, ArtData, ArtSample

if TYPE_CHECKING:
    import torch

    from tlgen.run import Run
    from tlgen.types import Backbone, DataSplits, LayerMap, StageResult

    from .data import RandomCrops, WithPhotos


@hookimpl
def config_schema() -> dict[str, type]:
    return {"backbone": ArtBackbone, "data": ArtData, "sample": ArtSample}


@hookimpl
def default_train_config() -> dict[str, Any]:
    return {
        "train": {"max_steps": 150, "batch_size": 16, "lr": 2e-4, "warmup_steps": 20,
                  "eval_every": 50, "eval_batches": 2, "save_every": 50, "log_every": 10},
        "freeze": {"strategy": "freeze-first:3"},  # the shipped UNet's down path
    }


@hookimpl
def load_backbone(run: Run, path: str | None) -> Backbone:
    from .backbone import load

    return load(run.config.backbone, path)


@hookimpl
def prepare_data(run: Run, backbone: Backbone) -> DataSplits:
    """Random crops of the style set to train on (the last ``validation_images`` held out),
    and in ``extras`` what sample, evaluate and report share, prepared once: the style
    images, the content images to stylise and the scorer (style distances and judge, each
    content image's own distances, the baseline a stylised image's change is measured
    against)."""
    from tlgen.types import DataSplits

    from . import data
    from .backbone import size_multiple
    from .metrics import Scorer
    from .sampling import style_guidance

    cfg = run.config
    style_guidance(backbone, cfg.sample)  # refuses guidance a pipeline cannot take
    if backbone.extras["kind"] == "latent" and cfg.data.crop % 8:
        raise TlgenError(f"config key 'data.crop': {cfg.data.crop} must be a multiple of 8 "
                         "for a latent diffusion pipeline")
    pictures = data.style_images(cfg.data, run.log)
    held = cfg.data.validation_images if len(pictures) > cfg.data.validation_images else 0
    if held < cfg.data.validation_images:
        run.log(f"note: only {len(pictures)} style image(s); none held out for validation")
    train, validation = pictures[: len(pictures) - held], pictures[len(pictures) - held:]
    run.log(f"style set: {len(train)} training, {len(validation)} validation image(s) "
            f"from {cfg.data.style}; {cfg.data.crop}px crops")
    contents = data.content_images(cfg.data, cfg.sample, size_multiple(backbone))
    crops = cfg.data.crop, cfg.data.zoom, cfg.data.crops_per_image
    training = data.RandomCrops(train, *crops, seed=cfg.seed)
    if backbone.extras["kind"] == "pixel" and (cfg.data.style_loss or cfg.data.distil):
        training = _with_style_loss(run, backbone, pictures, training)
    return DataSplits(
        train=training,
        validation=data.RandomCrops(validation, *crops, seed=cfg.seed + 1) if validation
        else None,
        collate_fn=data.Collate(data.caption_ids(backbone.tokenizer, cfg.data.caption)),
        count_key=None,
        unit="images",
        extras={"style_images": pictures, "content_images": contents,
                "scorer": Scorer(pictures, contents, cfg.sample.content_size)},
    )


def _with_style_loss(run: Run, backbone: Backbone, pictures: list,
                     crops: RandomCrops) -> WithPhotos:
    """The style crops paired with crops of ``data.photos`` at the scale content images are
    stylised at (with ``data.distil``, each with the guided image's crop), and the style
    transfer term in ``backbone.extras["style_loss"]``."""
    from . import data
    from .guidance import StyleGuide
    from .loss import StyleTransferLoss

    cfg = run.config
    photos = [img for _, img in data.load(cfg.data.photos, "data.photos", data.MIN_SIDE)]
    per_image = -(-len(crops) // len(photos))
    guide = StyleGuide(pictures, cfg.sample.content_size, cfg.data.distil_guidance, run.device)
    backbone.extras["style_loss"] = StyleTransferLoss(
        guide, cfg.data.style_loss, cfg.data.content_loss, max(cfg.sample.strengths),
        cfg.data.distil)
    run.log(f"style transfer term: weight {cfg.data.style_loss:g}, distillation "
            f"{cfg.data.distil:g}, on {len(photos)} photos ({cfg.data.photos}), timesteps "
            f"below strength {max(cfg.sample.strengths):g}")
    if cfg.data.distil:
        pairs = data.GuidedPairs(_guided_images(run, backbone, photos, guide),
                                 len(photos) * cfg.data.distil_seeds, cfg.data.crop,
                                 -(-per_image // cfg.data.distil_seeds), seed=cfg.seed + 2)
        return data.WithPhotos(crops, pairs)
    scale = cfg.sample.content_size / cfg.data.crop  # the content images' zoom
    photo_crops = data.RandomCrops(photos, cfg.data.crop, (0.75 * scale, 1.5 * scale),
                                   per_image, seed=cfg.seed + 2)
    return data.WithPhotos(crops, photo_crops)


def _guided_images(run: Run, backbone: Backbone, photos: list, guide):
    """What the distillation term learns: each photo at the content images' scale and,
    ``data.distil_seeds`` times, what the backbone as it is now (a copy: the base weights,
    before any fine-tuning or resumed checkpoint) makes of it by style-guided SDEdit at
    ``data.distil_strength``. Returned as a function that makes the pairs when called."""
    import copy
    import time

    from tlgen.freeze import base_model

    from .backbone import size_multiple
    from .data import resize_short_side, to_tensor
    from .sampling import PixelStylizer

    cfg = run.config
    unet = copy.deepcopy(base_model(backbone.model)).eval()
    scheduler = backbone.extras["pipeline"].scheduler.config
    short = max(cfg.sample.content_size, cfg.data.crop)
    multiple = size_multiple(backbone)

    def make() -> list:
        start = time.perf_counter()
        stylizer = PixelStylizer(unet.to(run.device), scheduler, cfg.sample.steps, run.device,
                                 guide)
        pairs = []
        for i, img in enumerate(photos):
            photo = resize_short_side(img, short, multiple)
            for k in range(cfg.data.distil_seeds):
                guided = stylizer.stylise(photo, cfg.data.distil_strength,
                                          seed=cfg.seed * 100_003 + i * cfg.data.distil_seeds + k)
                pairs.append((to_tensor(photo), to_tensor(guided)))
        run.log(f"distillation: {len(pairs)} guided images of {len(photos)} photos made in "
                f"{time.perf_counter() - start:.0f} s (strength {cfg.data.distil_strength:g}, "
                f"guidance {cfg.data.distil_guidance:g})")
        return pairs

    return make


@hookimpl
def layer_map(backbone: Backbone) -> LayerMap:
    from .backbone import layer_map as unet_layer_map

    return unet_layer_map(backbone.model)


@hookimpl
def loss(backbone: Backbone, model: torch.nn.Module, batch: dict) -> torch.Tensor:
    from .loss import noise_prediction_loss

    return noise_prediction_loss(backbone, model, batch)


@hookimpl
def sample(run: Run, backbone: Backbone, data: DataSplits, n: int, stage: str) -> list:
    from . import sampling

    cfg = run.config
    stylizer = sampling.stylizer_for(backbone, cfg.sample, cfg.data, run.device,
                                     data.extras["style_images"])
    contents = data.extras["content_images"]
    made = sampling.generate(stylizer, contents, cfg.sample, n)
    folder = run.samples_dir(stage)
    sampling.save(folder, made, contents)
    run.log(f"{stage}: {len(made)} images in {folder}")
    return made


@hookimpl
def evaluate(data: DataSplits, samples: list) -> dict[str, float]:
    return data.extras["scorer"].summary(samples)


@hookimpl
def item_metrics(run: Run, data: DataSplits, samples: list, stage: str) -> list[dict]:
    """One row per image (what it is, its distances, SSIM and changes), also written to
    ``scores.csv`` in the stage's samples folder for the user."""
    return data.extras["scorer"].items(samples, run.samples_dir(stage))


@hookimpl
def report(run: Run, data: DataSplits, results: dict[str, StageResult]) -> list[dict]:
    from .report import sections

    return sections(run, data, results)


@hookimpl
def export(backbone: Backbone, out_dir: Path, merge: bool) -> Path:
    from .backbone import export as save_pipeline

    return save_pipeline(backbone, out_dir, merge)
