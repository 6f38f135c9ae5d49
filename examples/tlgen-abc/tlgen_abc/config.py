"""The config sections the abc plugin owns: ``[backbone]``, ``[data]``, ``[sample]``,
``[evaluate]``."""

from __future__ import annotations

from pydantic import Field
from tlgen.config import BackboneSection, DataSection, EvaluateSection, SampleSection


class AbcBackbone(BackboneSection):
    """``path``: a folder saved by a run (``model/``); none or ``from_scratch``: a new GPT-2 of
    these sizes."""

    n_layer: int = Field(2, ge=1)
    n_head: int = Field(4, ge=1)
    n_embd: int = Field(64, ge=8)
    n_positions: int = Field(512, ge=64)


class AbcData(DataSection):
    """``path``: a file of ABC tunes (None: the bundled ones); ``rhythms``: keep only these
    ``R:``."""

    path: str | None = None
    rhythms: list[str] | None = None
    val_fraction: float = Field(0.15, gt=0, lt=1)


class AbcSample(SampleSection):
    """Tunes are generated from ``prompt`` (an ``X:`` header line) for up to ``max_chars``."""

    n: int = Field(16, ge=1)
    prompt: str = "X:1\n"
    max_chars: int = Field(320, ge=1)
    temperature: float = Field(1.0, gt=0)


class AbcEvaluate(EvaluateSection):
    """``ngram``: notes per n-gram for distinct-n; ``copy_chars``: a copy shares this many
    characters."""

    ngram: int = Field(4, ge=1)
    copy_chars: int = Field(30, ge=4)
    report_tunes: int = Field(4, ge=0)
