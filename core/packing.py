"""Padding-free batches: a micro-batch's token sequences laid end to end in a few rows.

Each sequence keeps its own positions (``position_ids`` restart at 0) and its first token
is no target (label -100), so no token predicts across a boundary and the model's mean
loss is over exactly the targets of the padded batch (the token-exact mean; ``count_key
= "labels"`` counts the same). With no ``attention_mask``, transformers turns the
restarts into a block-diagonal causal mask (SDPA, eager, flex) or varlen boundaries
(flash-attention), so a sequence never attends to its neighbours; ``check_isolation``
proves that on the actual model before training, and refuses a model that does not.

Rows hold at most ``train.pack`` tokens (a longer sequence gets a row of its own). On a
GPU with varlen attention one long row is best; with a dense mask (SDPA on a CPU) the
attention cost grows with the row, so rows of a few hundred tokens are (measured in
benchmarks/trainer_vs_hf.py).
"""

from __future__ import annotations

from typing import Sequence

import torch

from .data import CausalLMCollator
from .errors import TlgenError


def fill_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Indices of ``lengths`` grouped into rows of at most ``capacity`` tokens (first fit,
    longest first; an item longer than ``capacity`` gets a row of its own)."""
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        for r, free in enumerate(room):
            if lengths[i] <= free:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(capacity - lengths[i])
    return rows


class PackedCollator:
    """Token-id lists -> ``input_ids``, ``position_ids`` and ``labels`` rows (and
    ``use_cache=False``), no padding inside a row; a shorter row's tail is padding with its
    own positions and no targets."""

    def __init__(self, row_tokens: int, pad_id: int) -> None:
        self.row_tokens = row_tokens
        self.pad_id = pad_id

    def __call__(self, items: list[list[int]]) -> dict[str, torch.Tensor]:
        rows = fill_rows([len(x) for x in items], self.row_tokens)
        width = max(sum(len(items[i]) for i in row) for row in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        positions = torch.zeros((len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        for r, row in enumerate(rows):
            start = 0
            for i in row:
                seq = torch.tensor(items[i], dtype=torch.long)
                end = start + len(seq)
                ids[r, start:end] = seq
                positions[r, start:end] = torch.arange(len(seq))
                labels[r, start + 1 : end] = seq[1:]  # the first token predicts nothing before it
                start = end
            positions[r, start:] = torch.arange(width - start)  # the tail: a sequence of its own
        # transformers reads packing from position_ids only without a KV cache, which its
        # models otherwise build (config.use_cache) in training too
        return {"input_ids": ids, "position_ids": positions, "labels": labels, "use_cache": False}


def training_collate(cfg, data, model: torch.nn.Module):
    """The collate function the trainer batches with: ``data.collate_fn``, or with
    ``train.pack`` > 0 the packed one, once the data and the model are known to allow it."""
    if not cfg.pack:
        return data.collate_fn
    if not isinstance(data.collate_fn, CausalLMCollator):
        raise TlgenError("train.pack: packing needs token-id sequences batched by "
                         "tlgen.data.CausalLMCollator; this plugin's collate_fn is "
                         f"{type(data.collate_fn).__name__}; set train.pack = 0")
    if data.count_key != "labels":
        raise TlgenError("train.pack: packed rows are weighed by their target tokens "
                         f"(count_key 'labels'); this plugin's count_key is {data.count_key!r}; "
                         "set train.pack = 0")
    collate = PackedCollator(cfg.pack, data.collate_fn.pad_id)
    check_isolation(model, [data.train[i] for i in range(min(2, len(data.train)))],
                    collate.pad_id)
    return collate


@torch.no_grad()
def check_isolation(model: torch.nn.Module, items: list[list[int]], pad_id: int = 0,
                    tolerance: float = 1e-4) -> None:
    """Refuse (one line) a model that lets packed sequences see each other: each of two
    sequences packed in one row must get the logits it gets alone."""
    items = [list(x)[:16] for x in items[:2]]
    if len(items) < 2:
        return
    capacity = sum(len(x) for x in items)
    batch = PackedCollator(capacity, pad_id)(items)
    del batch["labels"]
    was_training = model.training
    model.eval()
    try:
        packed, start, gap = _logits(model, batch)[0], 0, 0.0
        for i in fill_rows([len(x) for x in items], capacity)[0]:  # the collator's order
            alone = _logits(model, {"input_ids": torch.tensor([items[i]])})[0]
            gap = max(gap, (packed[start : start + len(items[i])] - alone).abs().max().item())
            start += len(items[i])
    except TypeError as exc:
        raise TlgenError(f"train.pack: {type(model).__name__} does not take packed batches "
                         f"({exc}); set train.pack = 0") from None
    finally:
        model.train(was_training)
    if gap > tolerance:
        raise TlgenError(f"train.pack: {type(model).__name__} attends across packed "
                         f"sequences (logits move by {gap:.2g}); it needs transformers' "
                         "position_ids-based packing (SDPA, eager, flex or flash attention); "
                         "set train.pack = 0")


def _logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    device = next(model.parameters()).device
    out = model(**{k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()})
    return (out.logits if hasattr(out, "logits") else out).float()
