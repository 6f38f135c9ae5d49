"""Freeze strategies: which parameters of a backbone learn.

``full`` trains everything; ``freeze-embeddings`` freezes the input embeddings;
``freeze-first:N`` freezes the embeddings and the first N blocks; ``lora`` wraps
the model with peft LoRA adapters on the layer map's target modules.
"""

from __future__ import annotations

import torch

from .config import FreezeConfig
from .errors import PluginError, TlgenError
from .types import Backbone, LayerMap


def causal_lm_layer_map(model: torch.nn.Module) -> LayerMap:
    """The layer map of a Hugging Face causal LM (GPT-2, Llama, ...), found from its
    input embeddings and its largest ``ModuleList`` of blocks."""
    if not hasattr(model, "get_input_embeddings"):
        raise PluginError(f"core's default layer_map knows Hugging Face causal LMs; "
                          f"{type(model).__name__} is not one: implement the layer_map hook "
                          "(or use freeze.strategy = full)")
    names = {module: name for name, module in model.named_modules()}
    embeddings = [names[model.get_input_embeddings()]]
    for extra in ("wpe", "embed_positions"):
        embeddings += [n for n, m in model.named_modules() if n.endswith(extra)]
    lists = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.ModuleList)]
    if not lists:
        raise TlgenError(f"{type(model).__name__}: no list of blocks found to build a layer map")
    blocks_name, blocks = max(lists, key=lambda item: len(item[1]))
    linear_leaves = {
        n.rsplit(".", 1)[-1]
        for n, m in model.named_modules()
        if n.startswith(blocks_name) and isinstance(m, torch.nn.Linear | _conv1d_type())
    }
    attention = sorted(linear_leaves & {"q_proj", "k_proj", "v_proj", "o_proj", "c_attn", "c_proj"})
    if "c_attn" in attention:  # GPT-2: c_proj exists in both attention and MLP
        attention = ["c_attn", "attn.c_proj"]
    return LayerMap(
        embeddings=embeddings,
        blocks=[f"{blocks_name}.{i}" for i in range(len(blocks))],
        lora_targets=attention or sorted(linear_leaves),
    )


def _conv1d_type() -> type:
    from transformers.pytorch_utils import Conv1D

    return Conv1D


def apply(backbone: Backbone, layer_map: LayerMap, cfg: FreezeConfig) -> Backbone:
    """Apply ``cfg.strategy`` to ``backbone.model`` in place (LoRA wraps it)."""
    strategy, n_blocks = cfg.parsed()
    model = backbone.model
    if strategy == "lora":
        backbone.model = _lora(model, layer_map, cfg)
        return backbone
    model.requires_grad_(True)
    frozen: list[str] = []
    if strategy in ("freeze-embeddings", "freeze-first"):
        frozen += layer_map.embeddings
    if strategy == "freeze-first":
        if n_blocks > len(layer_map.blocks):
            raise TlgenError(
                f"freeze-first:{n_blocks}: the backbone has only {len(layer_map.blocks)} blocks"
            )
        frozen += layer_map.blocks[:n_blocks]
    for name, param in model.named_parameters():
        if any(name == p or name.startswith(p + ".") for p in frozen):
            param.requires_grad_(False)
    _untie_check(model, frozen)
    return backbone


def _untie_check(model: torch.nn.Module, frozen: list[str]) -> None:
    """An output head tied to frozen embeddings stays frozen too; say so once."""
    if not frozen or not hasattr(model, "get_output_embeddings"):
        return
    head = model.get_output_embeddings()
    if head is not None and head.weight is model.get_input_embeddings().weight:
        head.weight.requires_grad_(False)


def _lora(model: torch.nn.Module, layer_map: LayerMap, cfg: FreezeConfig) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model

    targets = cfg.lora_targets or layer_map.lora_targets
    if not targets:
        raise TlgenError("freeze.strategy = lora: no target modules; set freeze.lora_targets")
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        modules_to_save=_qualified(model, cfg.modules_to_save or layer_map.modules_to_save),
    )
    try:
        return get_peft_model(model, lora)
    except ValueError as exc:
        raise TlgenError(f"freeze.strategy = lora: {exc}".splitlines()[0]) from None


def _qualified(model: torch.nn.Module, names: list[str] | None) -> list[str] | None:
    """``modules_to_save`` as full names under peft's wrapper (``model.<name>``): peft
    matches these by plain suffix, so a short name such as ``out`` would also catch its
    own ``lora_dropout`` modules."""
    if not names:
        return None
    found = [n for n, _ in model.named_modules() if n]
    out = []
    for name in names:
        full = [n for n in found if n == name or n.endswith("." + name)]
        if not full:
            raise TlgenError(f"freeze.modules_to_save: the backbone has no module named {name!r}")
        out += [f"model.{n}" for n in full]
    return out


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The model under a peft wrapper (its LoRA layers stay active), or the model itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
