"""Writing songs in the artist's form: line by line, rhymes in the artist's scheme.

A song's form comes from the artist's training songs: a line count (the mode of the
lines per song, or drawn from their distribution) and the stanza schemes of the artist's
most common song of that length (``ABABCDCDEFEFGG`` for the sonnets). Each line is
sampled ``rhyme_candidates`` times from the song so far (one prefill, the cache shared by
the candidates); a logits processor holds back the end of song and empty lines, a stopping
criterion ends a candidate at its line break. The first candidate that keeps the stanza's
scheme (``metrics.scheme`` of the lines so far, the candidate added, equals the form's) wins;
ties break on a fresh end word and one with rhymes in the artist's songs, for the line's
partner to come. When no candidate rhymes with its partner, a candidate's last word is
swapped for one of the artist's commonest rhymes of the partner (the syllable count kept if
it can be): the swap whose line ending the model finds likeliest after the stanza so far,
unless it is much less likely than the candidate's own ending (``rhymed``).
The song ends after its last line, never mid-line.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .. import metrics as m
from .decoding import write
from .form import song_form, start_song, target_lines


def generate(model, tokenizer, prompts: list[str], artist: list[str], cfg, device,
             window: int = 4) -> list[str]:
    """One song per prompt (prompt included) in the form of the ``artist``'s songs."""
    counts = target_lines(artist, cfg.line_count, len(prompts), cfg.seed)
    forms = {n: song_form(artist, n, window) for n in set(counts)}
    songs = [start_song(p, forms[n]) for p, n in zip(prompts, counts)]
    vocabulary = Counter(w for song in artist for w in m.words(song))
    return write(model, tokenizer, songs, vocabulary, cfg, device, window)


def save(songs: list[str], folder: Path) -> None:
    """One text file per song: ``folder/001.txt``, ... (a folder the data reader accepts)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, song in enumerate(songs, 1):
        (folder / f"{i:03d}.txt").write_text(song + "\n", encoding="utf-8")
