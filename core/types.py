"""The values that flow between hooks: what a plugin returns, what core passes on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # keep `tlgen plugins` and `--help` free of the torch import
    import torch


@dataclass
class Backbone:
    """A loaded pretrained model and what goes with it.

    ``model`` is the module the trainer optimises (a causal LM, a UNet, ...);
    ``tokenizer`` is the tokenizer or processor, if any; ``extras`` holds the rest
    (a scheduler, a VAE, a text encoder) that the domain needs for its loss and samples.
    """

    model: torch.nn.Module
    tokenizer: Any = None
    name: str = ""
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSplits:
    """Train / validation (/ test) datasets and how to batch them.

    ``collate_fn`` turns a list of dataset items into a model batch (a dict of
    tensors); ``lengths`` (one per training item, in tokens) lets the trainer bucket
    sequences by length so no compute goes to padding. ``count_key`` names what the
    loss is a mean over, so batches of different sizes weigh right: ``"labels"`` (the
    default) counts the shifted causal-LM targets that are not -100, another key counts
    the sum of that tensor, ``None`` counts items. ``extras`` is the domain's own
    (reference molecules, songs, style images) for sample / evaluate / report.
    """

    train: torch.utils.data.Dataset
    validation: torch.utils.data.Dataset | None = None
    test: torch.utils.data.Dataset | None = None
    collate_fn: Callable[[list], dict] | None = None
    lengths: list[int] | None = None
    count_key: str | None = "labels"
    unit: str = "tokens"
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class LayerMap:
    """How a backbone's parameters are named, for the freeze strategies.

    ``embeddings``: name prefixes of the input embeddings (and tied heads);
    ``blocks``: name prefixes of the transformer/UNet blocks, input side first;
    ``lora_targets``: module names peft's LoRA attaches to;
    ``modules_to_save``: modules trained in full beside LoRA adapters.
    """

    embeddings: list[str] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    lora_targets: list[str] = field(default_factory=list)
    modules_to_save: list[str] = field(default_factory=list)


@dataclass
class TrainResult:
    """What ``train`` returns: the trained backbone (its ``model`` unwrapped from any
    distributed wrapper) and a summary (steps, tokens, best validation loss, ...)."""

    backbone: Backbone
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageResult:
    """One stage of a run (``"before"``, ``"after"``, an evaluation): the samples the
    domain made, the metrics of them (the domain's plus core's held-out losses) and one
    row of per-sample metrics each (``item_metrics``; empty where the plugin has none)."""

    samples: list
    metrics: dict[str, float]
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Rewards:
    """What ``reward`` returns for a batch of artefacts: one score in [0, 1] each (0 for an
    invalid one), the per-component values behind it (for the report and the CSV), which
    artefacts were valid, and how many oracle calls the batch cost (new artefacts scored;
    ``None``: one per artefact)."""

    scores: list[float]
    components: dict[str, list[float]] = field(default_factory=dict)
    valid: list[bool] | None = None
    calls: int | None = None


def count_items(batch: dict, key: str | None) -> torch.Tensor:
    """How many things the batch's mean loss is taken over (see ``DataSplits.count_key``);
    a tensor on the batch's device, so that reading it needs no host sync."""
    import torch

    if key is None:
        first = next(iter(batch.values()))
        return torch.tensor(len(first), device=getattr(first, "device", None))
    if key == "labels" and "labels" in batch:
        return (batch["labels"][..., 1:] != -100).sum()
    return batch[key].sum()
