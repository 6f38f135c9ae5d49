"""Chores every causal-LM plugin shares: where a backbone comes from (a folder or a hub id),
its special tokens, documents as ``BOS ids EOS``, a seeded hold-out split, and drawing from
the model (generate, stop at EOS, decode)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

from .errors import TlgenError

T = TypeVar("T")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


def resolve_source(path: str | Path, key: str = "backbone.path", marker: str = "config.json",
                   tokenizer: bool = False) -> str:
    """``path`` as ``from_pretrained`` takes it: an existing folder holding ``marker`` (and,
    with ``tokenizer``, a saved tokenizer), else a hub id (``name`` or ``org/name``, the
    hub's own rule); anything else is one line naming ``key``."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    local = Path(path).expanduser()
    if local.exists():
        if not local.is_dir():
            raise TlgenError(f"{key} {path} is a file, not a model folder or a hub id")
        if not (local / marker).is_file():
            raise TlgenError(f"{key} {path}: the folder has no {marker}; give a folder saved "
                             "with save_pretrained, or a hub id")
        if tokenizer and not any((local / name).is_file() for name in TOKENIZER_FILES):
            raise TlgenError(f"{key} {path}: the folder has no tokenizer (tokenizer.json or "
                             "tokenizer_config.json); save one there with "
                             "tokenizer.save_pretrained")
        return str(local)
    try:
        validate_repo_id(str(path))
    except HFValidationError:
        raise TlgenError(f"{key} {path}: no such folder, and not a hub id (name or "
                         "org/name)") from None
    return str(path)


def fill_special_tokens(model: torch.nn.Module, tokenizer: Any) -> None:
    """Give a tokenizer without BOS or PAD (many hub models) its EOS for both, and the
    model's generation config the same ids, so that drawing and batching work; a tokenizer
    without EOS is one line."""
    if tokenizer.eos_token is None:
        raise TlgenError(f"backbone {getattr(model, 'name_or_path', '')}: its tokenizer has no "
                         "end-of-sequence token")
    if tokenizer.bos_token is None:
        tokenizer.bos_token = tokenizer.eos_token
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    generation = getattr(model, "generation_config", None)
    if generation is not None:
        generation.bos_token_id = tokenizer.bos_token_id
        generation.eos_token_id = tokenizer.eos_token_id
        generation.pad_token_id = tokenizer.pad_token_id


def bracket(ids: Sequence[int], bos: int, eos: int, max_length: int | None = None) -> list[int]:
    """``BOS ids EOS``, cut to ``max_length`` (a cut document has no closing EOS)."""
    return [bos, *ids, eos][:max_length]


def encode_texts(tokenizer: Any, texts: Sequence[str], max_length: int | None = None,
                 bos: int | None = None, chunk: int = 20000) -> list[list[int]]:
    """``BOS tokens EOS`` ids for each text, whatever the tokenizer adds by itself (``bos``:
    another opening token, e.g. EOS for a model that starts documents after one)."""
    bos = tokenizer.bos_token_id if bos is None else bos
    out = []
    for start in range(0, len(texts), chunk):
        ids = tokenizer(list(texts[start:start + chunk]), add_special_tokens=False,
                        return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        out += [bracket(row, bos, tokenizer.eos_token_id, max_length) for row in ids]
    return out


def hold_out(items: Sequence[T], fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """``(train, held_out)``: ``fraction`` of the items (at least one, and one left to train
    on) drawn by ``seed``; both parts keep the items' order. Fewer than two items is one line."""
    if len(items) < 2:
        raise TlgenError(f"{len(items)} item(s): too few to hold one out; give at least 2")
    order = random.Random(seed).sample(range(len(items)), len(items))
    n_held = min(max(1, round(fraction * len(items))), len(items) - 1)
    return ([items[i] for i in sorted(order[n_held:])],
            [items[i] for i in sorted(order[:n_held])])


def special_ids(model: torch.nn.Module) -> tuple[int, int]:
    """``(bos_token_id, eos_token_id)`` from the model's config, or one line saying why not."""
    config = getattr(model, "config", None)
    bos, eos = getattr(config, "bos_token_id", None), getattr(config, "eos_token_id", None)
    if bos is None or eos is None or not hasattr(model, "generate"):
        raise TlgenError(f"{type(model).__name__} is not a causal LM with generate() and "
                         "bos/eos token ids in its config; implement the sample_ids hook")
    return bos, eos


def context_length(model: torch.nn.Module, cap: int) -> int:
    """The longest sequence the model takes, at most ``cap``."""
    config = getattr(model, "config", None)
    found = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
    return min(cap, found or cap)


@torch.no_grad()
def generate_ids(model: torch.nn.Module, n: int, temperature: float = 1.0,
                 max_tokens: int = 128, prompt: Sequence[int] = (), top_k: int = 0,
                 top_p: float = 1.0, seed: int | None = None) -> list[list[int]]:
    """``n`` sequences sampled from BOS (then ``prompt``), each cut after its first EOS past
    the prompt (kept) or at ``max_tokens``. Pure sampling unless ``top_k`` / ``top_p``; with
    ``seed`` the draw is repeatable and leaves torch's RNG as it was."""
    bos, eos = special_ids(model)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    start = torch.tensor([[bos, *prompt]] * n, dtype=torch.long, device=device)
    width = start.shape[1]
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else [],
                               enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        out = model.generate(input_ids=start, attention_mask=torch.ones_like(start),
                             do_sample=True, top_k=top_k, top_p=top_p, temperature=temperature,
                             max_new_tokens=max(context_length(model, max_tokens) - width, 1),
                             eos_token_id=eos, pad_token_id=eos)
    model.train(was_training)
    rows = []
    for row in out.tolist():
        end = row.index(eos, width) + 1 if eos in row[width:] else len(row)
        rows.append(row[:end])
    return rows


def decode_texts(tokenizer: Any, rows: Sequence[Sequence[int]]) -> list[str]:
    """The texts of token-id rows, special tokens (BOS, EOS, padding) dropped."""
    return tokenizer.batch_decode([list(row) for row in rows], skip_special_tokens=True)


def generate_texts(model: torch.nn.Module, tokenizer: Any, n: int, temperature: float = 1.0,
                   max_tokens: int = 128, prompt: str = "", seed: int | None = None) -> list[str]:
    """``n`` texts drawn from BOS and ``prompt`` (kept in the text), stopped at EOS."""
    ids = tokenizer.encode(prompt, add_special_tokens=False) if prompt else []
    return decode_texts(tokenizer, generate_ids(model, n, temperature, max_tokens, prompt=ids,
                                                seed=seed))
