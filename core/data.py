"""Sequence data for the trainer, batched so that no compute goes to padding.

Two ways: ``pack`` concatenates documents into full blocks (language models on
long text), and ``BucketBatchSampler`` groups sequences of similar length so a
padded batch is nearly all real tokens (short sequences such as SMILES).
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch


class TokenSequences(torch.utils.data.Dataset):
    """A list of token-id lists, one item per sequence."""

    def __init__(self, sequences: Sequence[Sequence[int]]) -> None:
        self.sequences = [list(s) for s in sequences]

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> list[int]:
        return self.sequences[index]

    def lengths(self) -> list[int]:
        return [len(s) for s in self.sequences]


class CausalLMCollator:
    """Pads a list of token-id lists to the longest; pads are masked and ignored by the loss."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, items: list[list[int]]) -> dict[str, torch.Tensor]:
        width = max(len(x) for x in items)
        ids = torch.full((len(items), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, seq in enumerate(items):
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def pack(sequences: Sequence[Sequence[int]], block_size: int, separator: int | None) -> list[list[int]]:
    """Concatenate sequences (each followed by ``separator``) and cut full blocks.

    The tail that does not fill a block is kept as a last, shorter block."""
    stream: list[int] = []
    for seq in sequences:
        stream.extend(seq)
        if separator is not None:
            stream.append(separator)
    return [stream[i : i + block_size] for i in range(0, len(stream), block_size)]


class BucketBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of similar-length items, in a random order that depends only on
    (seed, epoch), so a resumed run sees the same batches.

    Items are shuffled, cut into chunks of ``batch_size * 50``, each chunk sorted by
    length and split into batches; the batches are then shuffled."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0,
                 drop_last: bool = False) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self.drop_last = drop_last

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(len(self.lengths), generator=gen).tolist()
        chunk = self.batch_size * 50
        batches = []
        for start in range(0, len(order), chunk):
            part = sorted(order[start : start + chunk], key=self.lengths.__getitem__)
            batches += [part[i : i + self.batch_size] for i in range(0, len(part), self.batch_size)]
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        perm = torch.randperm(len(batches), generator=gen).tolist()
        return [batches[i] for i in perm]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
