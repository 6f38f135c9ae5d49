"""The hooks a tlgen plugin may implement: the contract between core and domains.

A *domain* plugin (molecules, lyrics, art, a third party's) implements at least
``load_backbone``, ``prepare_data``, ``sample`` and ``evaluate``; a run selects exactly
one. Every other registered plugin (loggers, callbacks, a wrapper around ``train``)
still sees the broadcast hooks. An implementation may take fewer arguments than its
spec. A plugin keeps no module-global state: what it needs comes in through the
arguments, and what it must keep per run goes in ``run.state`` (saved with every
checkpoint, restored on resume).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    import torch

    from .run import Run
    from .types import Backbone, DataSplits, LayerMap, Rewards, StageResult, TrainResult

hookspec = pluggy.HookspecMarker("tlgen")
hookimpl = pluggy.HookimplMarker("tlgen")


@hookspec(firstresult=True)
def config_schema() -> dict[str, type]:
    """Pydantic models for the domain's own sections (``backbone``, ``data``, ``sample``,
    ``evaluate``, ``scoring``), e.g. ``{"data": DataConfig}``; their defaults are the
    default run."""


@hookspec(firstresult=True)
def default_train_config() -> dict[str, Any]:
    """Overrides of core's ``[train]`` / ``[freeze]`` defaults for this domain,
    as ``{"train": {...}, "freeze": {...}}``."""


@hookspec(firstresult=True)
def load_backbone(run: Run, path: str | None) -> Backbone:
    """The pretrained model(s) from ``path`` (hub id or folder; ``None``: the config's
    ``backbone`` section decides), loaded with ``from_pretrained``."""


@hookspec(firstresult=True)
def prepare_data(run: Run, backbone: Backbone) -> DataSplits:
    """Read, clean and split the domain data: torch datasets, a collate_fn, and in
    ``extras`` what sample / evaluate / report need (reference sets, raw texts)."""


@hookspec(firstresult=True)
def layer_map(run: Run, backbone: Backbone) -> LayerMap:
    """Name the embeddings, ordered blocks and LoRA targets (core default: a Hugging
    Face causal LM's). Not asked for under ``freeze.strategy = "full"``."""


@hookspec(firstresult=True)
def freeze(run: Run, backbone: Backbone, layer_map: LayerMap | None) -> Backbone:
    """Choose which parameters learn (core default: the ``[freeze]`` strategy)."""


@hookspec(firstresult=True)
def loss(run: Run, backbone: Backbone, model: torch.nn.Module, batch: dict,
         training: bool) -> torch.Tensor:
    """Mean loss of one ``batch`` as a scalar tensor, over what ``DataSplits.count_key``
    counts. ``training`` is True inside an optimizer step, False for a held-out evaluation
    (validation, before/after losses). Call ``model`` (it may be wrapped for distribution);
    read the rest (noise scheduler, VAE, config) from ``backbone``. Return None to use core's
    ``model(**batch).loss`` (a Hugging Face model); any other backbone needs this hook."""


@hookspec(firstresult=True)
def train(run: Run, backbone: Backbone, data: DataSplits) -> TrainResult:
    """Fine-tune and return the trained backbone and a summary. Core's shared trainer is
    the default; wrap it with ``@hookimpl(wrapper=True)``."""


@hookspec(firstresult=True)
def sample(run: Run, backbone: Backbone, data: DataSplits, n: int, stage: str) -> list:
    """Generate ``n`` artefacts (SMILES, songs, images) for ``stage`` (``"before"``,
    ``"after"``, ...); a domain may add a fixed set it always makes (stylised content
    images). Files to keep go in ``run.samples_dir(stage)``, unless ``run.writes_samples``
    is False (``tlgen serve``: nothing is written per request)."""


@hookspec(firstresult=True)
def evaluate(run: Run, backbone: Backbone, data: DataSplits, samples: list,
             stage: str) -> dict:
    """Flat ``{name: number}`` metrics of ``samples``. Core adds the held-out losses
    (``val_loss``, ``test_loss``) itself."""


@hookspec(firstresult=True)
def item_metrics(run: Run, backbone: Backbone, data: DataSplits, samples: list,
                 stage: str) -> list[dict]:
    """One flat row per sample (``{name: number or text}``: a molecule's validity, QED and
    score components, a song's lines with rhyme letters, an image's style distance): the
    one route for per-sample scores, read by the report, ``tlgen serve`` and ``tlgen
    monitor``. Optional."""


@hookspec(firstresult=True)
def sample_ids(run: Run, backbone: Backbone, model: torch.nn.Module, n: int,
               temperature: float, max_tokens: int) -> list[list[int]]:
    """``n`` token-id sequences from ``model`` (the agent, maybe wrapped), each from BOS up
    to and including EOS (or ``max_tokens``): what the reward stage scores and trains on
    (core default: ``generate``; a domain with a faster sampler serves both its ``sample``
    and the reward stage with it)."""


@hookspec(firstresult=True)
def decode(run: Run, backbone: Backbone, ids: list[list[int]]) -> list:
    """Token ids (without padding) -> artefacts, for the reward stage (core default:
    ``backbone.tokenizer.batch_decode(ids, skip_special_tokens=True)``)."""


@hookspec(firstresult=True)
def reward(run: Run, backbone: Backbone, data: DataSplits, samples: list, step: int) -> Rewards:
    """Score artefacts in [0, 1] for the reward stage (``train.mode = "reward"``), from the
    ``[scoring]`` config; memory across steps (a diversity filter) goes in ``run.state``."""


@hookspec
def report(run: Run, data: DataSplits, results: dict[str, StageResult]) -> list[dict]:
    """Sections for report.html, by stage name in ``results``. A section is
    ``{"title": str}`` plus one of ``"image": Path``, ``"text": str``, ``"items": [str]``
    or ``"table": {"columns": [...], "rows": [[...]]}`` (cells: numbers, text, or
    ``{"lines": [[label, text], ...]}`` for annotated text); ``"note": str`` is optional."""


@hookspec(firstresult=True)
def export(run: Run, backbone: Backbone, out_dir: Path, merge: bool) -> Path:
    """Save the fine-tuned model in plain Hugging Face format (core default:
    ``save_pretrained`` of model and tokenizer, peft adapters merged when ``merge``; a
    model without ``save_pretrained``: a safetensors state dict and config.json)."""


@hookspec
def on_step(run: Run, step: int, logs: dict) -> None:
    """After every logged optimizer step: loss, lr, throughput, MFU (broadcast)."""


@hookspec
def on_evaluate(run: Run, step: int, logs: dict) -> None:
    """After each evaluation, with the validation loss (broadcast)."""


@hookspec
def on_run_end(run: Run, summary: dict) -> None:
    """Once, when the run has written its report (broadcast)."""


@hookspec(firstresult=True)
def metric_names(config) -> list[str]:
    """The names ``evaluate`` may report under ``config`` (optional): lets ``tlgen sweep``
    refuse an objective that is no metric of the plugin before any trial runs."""
