"""A song's form and how it opens: the artist's line count and stanza schemes, a prompt as
header or first line, and the song being written (``Song``)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from .. import metrics as m
from ..data import TAG

CUT = "\x00"  # marks a sampled line that ran out of tokens before its break


@dataclass
class Song:
    """A song being written: a header (title or section tag, may be empty), the stanzas'
    lines so far, and the form's stanza schemes it fills."""

    header: str
    stanzas: list[list[str]]
    form: list[str]

    def text(self) -> str:
        body = "\n\n".join("\n".join(lines) for lines in self.stanzas if lines)
        return f"{self.header}\n{body}".strip("\n")

    def next_slot(self) -> tuple[int, int] | None:
        """(stanza, line) of the next line to write; None when the song is complete."""
        for s, scheme in enumerate(self.form):
            if s >= len(self.stanzas) or len(self.stanzas[s]) < len(scheme):
                return s, len(self.stanzas[s]) if s < len(self.stanzas) else 0
        return None

    def add(self, line: str) -> None:
        s, _ = self.next_slot()
        while len(self.stanzas) <= s:
            self.stanzas.append([])
        self.stanzas[s].append(line)


def song_form(songs: list[str], lines: int, window: int) -> list[str]:
    """The stanza schemes of the artist's most common song of ``lines`` lines."""
    forms = Counter(tuple(m.scheme(st, window) for st in m.stanzas(song)) for song in songs
                    if sum(map(len, m.stanzas(song))) == lines)
    return list(forms.most_common(1)[0][0]) if forms else ["A" * lines]


def target_lines(songs: list[str], how: str, n: int, seed: int) -> list[int]:
    """``n`` line counts: the artist's mode (``how="mode"``) or draws from their counts."""
    counts = Counter(m.line_counts(songs))
    if how == "mode":
        return [max(counts, key=lambda k: (counts[k], k))] * n
    rng = random.Random(seed)
    return rng.choices(list(counts), weights=list(counts.values()), k=n)


def prompt_text(prompt: str) -> str:
    """The text a prompt opens a song with: ``title: X`` becomes ``Title: X``; a first line or
    a section tag stays as it is."""
    prompt = prompt.strip()
    if prompt.lower().startswith("title:"):
        return f"Title: {prompt[6:].strip()}"
    return prompt


def start_song(prompt: str, form: list[str]) -> Song:
    """A song opened by ``prompt``: a title or tag is its header, a first line its line 1."""
    text = prompt_text(prompt)
    if text.startswith("Title:") or TAG.match(text) or not m.words(text):
        return Song(header=text, stanzas=[], form=form)
    return Song(header="", stanzas=[[text]], form=form)


def default_prompts(held_out: list[str]) -> list[str]:
    """The first lines of the held-out songs (section tags skipped)."""
    firsts = []
    for song in held_out:
        lines = [line for line in song.split("\n") if line.strip()]
        body = [line for line in lines if not TAG.match(line)]
        firsts.append((body or lines)[0].strip())
    return firsts
