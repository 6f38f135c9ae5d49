"""Diffusion backbones: load a diffusers pipeline (the shipped pixel DDPM in ``backbone/``, a
folder or hub id, or a new pixel DDPM), name its layers for the freeze strategies, and save
it back as a plain pipeline folder."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    DDPMPipeline,
    DDPMScheduler,
    DiffusionPipeline,
    UNet2DConditionModel,
    UNet2DModel,
)

from tlgen import TlgenError
from tlgen.freeze import base_model
from tlgen.types import Backbone, LayerMap

from .config import ArtBackbone

SHIPPED = Path(__file__).parent / "backbone"
ATTENTION = ["to_k", "to_q", "to_v", "to_out.0"]
RESNET_CONVS = ["conv1", "conv2"]


def load(cfg: ArtBackbone, path: str | None) -> Backbone:
    """The backbone that ``path`` (or ``cfg.path``, or the shipped DDPM) names, or a new pixel
    DDPM for ``cfg.from_scratch``."""
    if cfg.from_scratch:
        return to_backbone(new_pixel_pipeline(cfg), "new pixel DDPM")
    name = path or cfg.path or str(SHIPPED)
    if name == str(SHIPPED) and not (SHIPPED / "model_index.json").is_file():
        raise TlgenError(f"the shipped backbone is missing from {SHIPPED}; build it with "
                         "`tlgen run --config examples/art/pretrain_backbone.toml`")
    return to_backbone(load_pipeline(name), name)


def load_pipeline(path: str) -> DiffusionPipeline:
    """``DiffusionPipeline.from_pretrained(path)`` with one-line errors for bad folders and ids."""
    from tlgen.lm import resolve_source

    source = resolve_source(path, marker="model_index.json")  # a pipeline folder or a hub id
    try:
        pipe = DiffusionPipeline.from_pretrained(source)
    except Exception as exc:  # the hub unreachable, a broken folder: name it, no traceback
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TlgenError(f"backbone.path {path}: could not load the pipeline ({first})") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


def new_pixel_pipeline(cfg: ArtBackbone) -> DDPMPipeline:
    """A randomly initialised pixel-space DDPM (UNet2DModel, attention in the middle block)."""
    depth = len(cfg.block_out_channels)
    unet = UNet2DModel(
        sample_size=cfg.sample_size,
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        down_block_types=("DownBlock2D",) * depth,
        up_block_types=("UpBlock2D",) * depth,
        norm_num_groups=cfg.norm_num_groups,
    )
    scheduler = DDPMScheduler(num_train_timesteps=cfg.num_train_timesteps,
                              beta_schedule=cfg.beta_schedule)
    pipe = DDPMPipeline(unet=unet, scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def kind_of(pipe: DiffusionPipeline) -> str:
    """'pixel' (an image UNet and a scheduler) or 'latent' (Stable Diffusion-class)."""
    unet, vae = getattr(pipe, "unet", None), getattr(pipe, "vae", None)
    if isinstance(unet, UNet2DModel) and vae is None and getattr(pipe, "vqvae", None) is None \
            and unet.config.in_channels == 3:
        return "pixel"
    from diffusers import StableDiffusionPipeline  # imports transformers: only when needed

    if isinstance(pipe, StableDiffusionPipeline) and isinstance(unet, UNet2DConditionModel) \
            and isinstance(vae, AutoencoderKL):
        return "latent"
    raise TlgenError(f"{type(pipe).__name__} is not supported: use a Stable Diffusion 1.x/2.x "
                     "pipeline or a pixel-space UNet2DModel pipeline (DDPM/DDIM)")


def to_backbone(pipe: DiffusionPipeline, name: str) -> Backbone:
    """The Backbone: the UNet learns; VAE and text encoder (if any) are frozen extras."""
    kind = kind_of(pipe)
    for frozen in (getattr(pipe, "vae", None), getattr(pipe, "text_encoder", None)):
        if frozen is not None:
            frozen.requires_grad_(False).eval()
    return Backbone(
        model=pipe.unet,
        tokenizer=getattr(pipe, "tokenizer", None),
        name=name,
        extras={"pipeline": pipe, "kind": kind,
                "noise_scheduler": DDPMScheduler.from_config(pipe.scheduler.config)},
    )


def layer_map(unet: torch.nn.Module) -> LayerMap:
    """Embeddings (input conv, time embedding), blocks input side first (down, mid, up),
    LoRA on attention projections (and the ResNet convs of a pixel UNet)."""
    embeddings = [n for n in ("conv_in", "time_embedding", "class_embedding")
                  if getattr(unet, n, None) is not None]
    blocks = [f"down_blocks.{i}" for i in range(len(unet.down_blocks))] + ["mid_block"]
    blocks += [f"up_blocks.{i}" for i in range(len(unet.up_blocks))]
    targets = ATTENTION if isinstance(unet, UNet2DConditionModel) else ATTENTION + RESNET_CONVS
    return LayerMap(embeddings=embeddings, blocks=blocks, lora_targets=targets)


def size_multiple(backbone: Backbone) -> int:
    """What each side of an image the backbone re-renders must be a multiple of: the pixel
    UNet's downsampling, or the VAE's scale factor."""
    if backbone.extras["kind"] == "pixel":
        return 2 ** (len(base_model(backbone.model).down_blocks) - 1)
    return backbone.extras["pipeline"].vae_scale_factor


def export(backbone: Backbone, out_dir: Path, merge: bool) -> Path:
    """Save a pipeline folder that ``DiffusionPipeline.from_pretrained`` loads. LoRA adapters
    are merged when ``merge``; otherwise the base pipeline is saved with the adapter beside
    it (``pipe.load_lora_weights(out_dir)`` for Stable Diffusion, ``out_dir/lora`` a peft
    adapter for a pixel UNet)."""
    pipe = backbone.extras["pipeline"]
    model = backbone.model
    adapter = hasattr(model, "merge_and_unload")
    unet = model
    if adapter:  # a copy, so that the run's model keeps its adapters
        unet = copy.deepcopy(model).merge_and_unload() if merge else copy.deepcopy(model).unload()
    type(pipe)(**{**pipe.components, "unet": unet}).save_pretrained(out_dir)
    if adapter and not merge:
        _save_adapter(backbone, model, out_dir)
    return out_dir


def _save_adapter(backbone: Backbone, model: torch.nn.Module, out_dir: Path) -> None:
    """The LoRA weights alone, in the format diffusers (SD) or peft (pixel UNet) loads."""
    if backbone.extras["kind"] == "pixel":
        model.save_pretrained(out_dir / "lora")
        return
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    prefix = "base_model.model."
    state = {k.removeprefix(prefix): v for k, v in get_peft_model_state_dict(model).items()}
    StableDiffusionPipeline.save_lora_weights(
        out_dir, unet_lora_layers=convert_state_dict_to_diffusers(state))
