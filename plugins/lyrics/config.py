"""The lyrics plugin's config sections; the defaults are the headline run (SmolLM2, sonnets)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from tlgen.config import DataSection, EvaluateSection, SampleSection


class LyricsData(DataSection):
    """The artist: a file of songs or a folder with one song per file; unset: the sonnets."""

    path: str | None = None
    validation_fraction: float = Field(0.1, gt=0, lt=1)
    block_size: int = Field(256, ge=8)


class LyricsSample(SampleSection):
    """``prompts``: first lines, ``title: ...`` or ``[Tag]``, cycled over ``n``; empty: the
    held-out songs' first lines. Songs are written line by line in the artist's form:
    ``line_count`` ``"mode"`` (the artist's most common lines per song) or ``"sample"`` (drawn
    from the artist's songs); each line is the best of ``rhyme_candidates`` samples for the
    artist's rhyme scheme (1: plain sampling; a line that only has to avoid rhyming gets a
    quarter of them), at most ``max_line_tokens`` tokens long. When no sample rhymes, a sample's
    last word becomes a rhyme of its partner: of the ``rhyme_words`` commonest rhymes in the
    artist's songs (with the word's syllable count, if any; 0: never swap), the swap the model
    likes best, kept when its line ending is at most ``rhyme_slack`` nats less likely than the
    sample's own."""

    n: int = Field(8, ge=1)
    prompts: list[str] = Field(default_factory=list)
    line_count: Literal["mode", "sample"] = "mode"
    rhyme_candidates: int = Field(4, ge=1)
    rhyme_words: int = Field(8, ge=0)
    rhyme_slack: float = Field(5.0, ge=0)
    max_line_tokens: int = Field(24, ge=1)
    temperature: float = Field(0.9, gt=0)
    top_p: float = Field(0.95, gt=0, le=1)
    repetition_penalty: float = Field(1.1, gt=0)
    batch_size: int = Field(8, ge=1)


class LyricsEvaluate(EvaluateSection):
    """``rhyme_window``: how many lines apart rhymes may be; ``copy_ngram``: n of the copy rate.
    The held-out loss and perplexity are core's (see ``train.heldout_batches``)."""

    rhyme_window: int = Field(4, ge=1)
    copy_ngram: int = Field(8, ge=2)
