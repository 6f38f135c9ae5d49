"""Chores every causal-LM plugin shares: drawing token ids from a model (generate, stop at
EOS), and the BOS/EOS ids a model's config names."""

from __future__ import annotations

import torch

from .errors import TlgenError


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
                 max_tokens: int = 128) -> list[list[int]]:
    """``n`` sequences sampled from BOS (pure sampling: no top-k/top-p), each cut after its
    first EOS (kept) or at ``max_tokens``."""
    bos, eos = special_ids(model)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    start = torch.full((n, 1), bos, dtype=torch.long, device=device)
    out = model.generate(input_ids=start, attention_mask=torch.ones_like(start), do_sample=True,
                         top_k=0, top_p=1.0, temperature=temperature,
                         max_new_tokens=context_length(model, max_tokens) - 1,
                         eos_token_id=eos, pad_token_id=eos)
    model.train(was_training)
    rows = []
    for row in out.tolist():
        end = row.index(eos, 1) + 1 if eos in row[1:] else len(row)
        rows.append(row[:end])
    return rows
