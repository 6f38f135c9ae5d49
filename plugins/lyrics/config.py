"""The lyrics plugin's config sections; the defaults are the headline run (SmolLM2, sonnets)."""

from __future__ import annotations

from pydantic import Field
from tlgen.config import DataSection, EvaluateSection, SampleSection


class LyricsData(DataSection):
    """The artist: a file of songs or a folder with one song per file; unset: the sonnets."""

    path: str | None = None
    validation_fraction: float = Field(0.1, gt=0, lt=1)
    block_size: int = Field(256, ge=8)


class LyricsSample(SampleSection):
    """``prompts``: first lines, ``title: ...`` or ``[Tag]``, cycled over ``n``; empty: the
    held-out songs' first lines. ``min_new_tokens``: no end of song before that many tokens."""

    n: int = Field(8, ge=1)
    prompts: list[str] = Field(default_factory=list)
    max_new_tokens: int = Field(176, ge=1)
    min_new_tokens: int = Field(0, ge=0)
    temperature: float = Field(0.9, gt=0)
    top_p: float = Field(0.95, gt=0, le=1)
    repetition_penalty: float = Field(1.1, gt=0)
    batch_size: int = Field(8, ge=1)


class LyricsEvaluate(EvaluateSection):
    """``rhyme_window``: how many lines apart rhymes may be; ``copy_ngram``: n of the copy rate.
    The held-out loss and perplexity are core's (see ``train.heldout_batches``)."""

    rhyme_window: int = Field(4, ge=1)
    copy_ngram: int = Field(8, ge=2)
