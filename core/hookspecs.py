"""The hooks a tlgen plugin may implement: the contract between core and domains.

A *domain* plugin (molecules, lyrics, art, a third party's) implements at least
``load_backbone``; a run selects exactly one. Every other registered plugin
(loggers, callbacks, a wrapper around ``train``) still sees the broadcast hooks.
An implementation may take fewer arguments than its spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    import torch

    from .run import Run
    from .types import Backbone, DataSplits, LayerMap

hookspec = pluggy.HookspecMarker("tlgen")
hookimpl = pluggy.HookimplMarker("tlgen")


@hookspec(firstresult=True)
def config_schema() -> dict[str, type]:
    """Pydantic models for the domain's own config sections, e.g. ``{"data": DataConfig}``.

    Sections the domain owns are ``backbone``, ``data``, ``sample`` and ``evaluate``;
    a model's defaults are what ``tlgen run --plugin X`` uses with no config file."""


@hookspec(firstresult=True)
def default_train_config() -> dict[str, Any]:
    """Overrides of the core ``[train]`` / ``[freeze]`` defaults that suit this domain,
    as ``{"train": {...}, "freeze": {...}}``."""


@hookspec(firstresult=True)
def load_backbone(run: Run, path: str | None) -> Backbone:
    """Load the pretrained model(s) from ``path`` (hub id or folder; ``None``: the
    config's ``backbone`` section decides) with ``from_pretrained``."""


@hookspec(firstresult=True)
def prepare_data(run: Run, backbone: Backbone) -> DataSplits:
    """Read, clean and split the domain data; return torch datasets and a collate_fn."""


@hookspec(firstresult=True)
def layer_map(run: Run, backbone: Backbone) -> LayerMap:
    """Name the backbone's embeddings, ordered blocks and LoRA target modules."""


@hookspec(firstresult=True)
def freeze(run: Run, backbone: Backbone, layer_map: LayerMap) -> Backbone:
    """Choose which parameters learn (core default: the ``[freeze]`` strategy)."""


@hookspec(firstresult=True)
def loss(run: Run, model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """Scalar training loss of ``model`` on one ``batch`` (core default: ``model(**batch).loss``)."""


@hookspec(firstresult=True)
def train(run: Run, backbone: Backbone, data: DataSplits) -> dict:
    """Fine-tune ``backbone.model`` on ``data``; return a summary (steps, tokens, best val loss).

    Core's shared trainer is the default; wrap it with ``@hookimpl(wrapper=True)``."""


@hookspec(firstresult=True)
def sample(run: Run, backbone: Backbone, n: int, stage: str) -> list:
    """Generate ``n`` artefacts (SMILES strings, songs, images); ``stage`` is
    ``"before"`` or ``"after"`` fine-tuning; a domain may return, besides the ``n``,
    a fixed set it always makes (the art plugin's stylised content images). The domain
    also saves them under ``run.dir / "samples" / stage`` if it wants them kept."""


@hookspec(firstresult=True)
def evaluate(run: Run, backbone: Backbone, samples: list, data: DataSplits, stage: str) -> dict:
    """Metrics of ``samples`` (flat ``{name: number}``), for the before/after table."""


@hookspec
def report(run: Run, metrics: dict[str, dict[str, float]]) -> list[dict]:
    """Sections for report.html: ``{"title": str, "html": str}`` and/or
    ``{"title": str, "image": Path}``. ``metrics`` is ``{"before": {...}, "after": {...}}``."""


@hookspec(firstresult=True)
def export(run: Run, backbone: Backbone, out_dir: Path, merge: bool) -> Path:
    """Save the fine-tuned model in plain Hugging Face format (core default:
    ``save_pretrained`` of model and tokenizer; peft adapters merged when ``merge``)."""


@hookspec
def on_step(run: Run, step: int, logs: dict) -> None:
    """Called after every optimizer step with loss, lr, tokens/s (broadcast)."""


@hookspec
def on_evaluate(run: Run, step: int, logs: dict) -> None:
    """Called after each evaluation with the validation loss (broadcast)."""


@hookspec
def on_run_end(run: Run, summary: dict) -> None:
    """Called once when the run has written its report (broadcast)."""
