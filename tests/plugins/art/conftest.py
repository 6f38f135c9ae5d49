"""Tiny random diffusion pipelines built in code (as diffusers' own tests do), saved once
per session, and a helper that makes art runs on them."""

from __future__ import annotations

import string

import pytest
import torch


def tiny_pixel_pipeline():
    """A 16 px pixel-space DDPM with two UNet levels."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=16, block_out_channels=(8, 16), layers_per_block=1,
                       down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2,
                       norm_num_groups=4, attention_head_dim=4)
    return DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=100))


def tiny_clip_tokenizer():
    """A CLIP tokenizer whose vocabulary is the letters (no merges): any lowercase text."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in string.ascii_lowercase:
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)


def tiny_sd_pipeline():
    """A Stable Diffusion pipeline: UNet2DConditionModel, AutoencoderKL, CLIP text model."""
    from diffusers import (AutoencoderKL, DDIMScheduler, StableDiffusionPipeline,
                           UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16, attention_head_dim=4)
    vae = AutoencoderKL(
        block_out_channels=(8, 16), norm_num_groups=4, latent_channels=4, sample_size=32,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=54, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=16, bos_token_id=0, eos_token_id=1,
        pad_token_id=1))
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    return StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder,
                                   tokenizer=tiny_clip_tokenizer(), scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


@pytest.fixture(scope="session")
def pixel_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-ddpm")
    tiny_pixel_pipeline().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def sd_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-sd")
    tiny_sd_pipeline().save_pretrained(folder)
    return folder


FAST = ["train.max_steps=2", "train.batch_size=2", "train.eval_every=2", "train.warmup_steps=0",
        "train.save_every=2", "data.crops_per_image=2", "sample.n=2", "sample.steps=4",
        "sample.strengths=[0.5]", "sample.max_content=1", "sample.content_size=32"]


@pytest.fixture
def make_run(tmp_path):
    """An art run in tmp_path, fast settings plus ``overrides``."""
    from tlgen import Run

    def make(*overrides: str):
        return Run.create("art", overrides=[*FAST, *overrides], output_dir=tmp_path / "runs",
                          device="cpu")

    return make
