"""Songwriter's metrics: rhyme, meter, structure, diversity and copying (core adds the held-out
loss and perplexity).

Rhymes come from the CMU Pronouncing Dictionary (``pronouncing``): two line-end
words rhyme when their sounds from the last stressed vowel on are the same; a
word the dictionary lacks is compared by its spelling from the last vowel group.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from functools import cache

import pronouncing

from .data import TAG

WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
LETTERS = string.ascii_uppercase + string.ascii_lowercase


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (apostrophes inside words kept)."""
    return WORD.findall(text.lower().replace("\u2019", "'"))


def stanzas(song: str) -> list[list[str]]:
    """The song's lines grouped into stanzas; blank lines and section tags end a stanza."""
    groups: list[list[str]] = [[]]
    for line in song.split("\n"):
        if TAG.match(line) or not words(line):
            if groups[-1]:
                groups.append([])
        else:
            groups[-1].append(line.strip())
    return [g for g in groups if g]


@cache
def _phones(word: str) -> tuple[str, ...]:
    """CMU pronunciations of ``word``, trying archaic spellings (tatter'd, feel'st) too."""
    for variant in (word, re.sub(r"'d$", "ed", word), word.split("'")[0], word.replace("'", "")):
        found = pronouncing.phones_for_word(variant)
        if found:
            return tuple(found)
    return ()


@cache
def _sounds(word: str) -> frozenset[str]:
    """The rhyming parts (stress marks dropped) of the word's pronunciations."""
    return frozenset(re.sub(r"\d", "", pronouncing.rhyming_part(p)) for p in _phones(word))


def _spelling(word: str) -> str:
    """Spelling from the last vowel group on, a silent final e dropped (for unknown words)."""
    w = word.replace("'", "")
    if len(w) > 3 and w.endswith("e") and w[-2] not in "aeiouy":
        w = w[:-1]
    found = re.search(r"[aeiouy]+[^aeiouy]*$", w)
    return found.group(0) if found else w


def rhymes(a: str, b: str) -> bool:
    """Whether two words rhyme (the same word counts)."""
    if a == b:
        return True
    sa, sb = _sounds(a), _sounds(b)
    if sa and sb:
        return bool(sa & sb)
    return _spelling(a) == _spelling(b)


def _end_words(lines: list[str]) -> list[str]:
    return [(words(line) or [""])[-1] for line in lines]


def rhyme_pairs(lines: list[str], window: int = 4) -> set[tuple[int, int]]:
    """Pairs (i, j), i < j <= i + window, of lines whose end words rhyme."""
    ends = _end_words(lines)
    return {(i, j) for j in range(len(ends)) for i in range(max(0, j - window), j)
            if rhymes(ends[i], ends[j])}


def scheme(lines: list[str], window: int = 4) -> str:
    """The end-rhyme scheme of one stanza, e.g. ``"ABAB"``: a line takes the letter of the
    nearest earlier line (within ``window``) it rhymes with, else the next new letter."""
    pairs = rhyme_pairs(lines, window)
    letters: list[str] = []
    for j in range(len(lines)):
        partner = max((i for i, k in pairs if k == j), default=None)
        letters.append(letters[partner] if partner is not None
                       else LETTERS[len(set(letters)) % len(LETTERS)])
    return "".join(letters)


def song_scheme(song: str, window: int = 4) -> str:
    """Stanza schemes of a song, space-separated, e.g. ``"ABAB CDCD"`` -> ``"ABAB ABAB"``."""
    return " ".join(scheme(lines, window) for lines in stanzas(song))


def rhyme_density(song: str, window: int = 4) -> float:
    """Share of lines whose end word rhymes with a different end word nearby."""
    total, rhymed = 0, 0
    for lines in stanzas(song):
        ends = _end_words(lines)
        paired = {k for i, j in rhyme_pairs(lines, window) if ends[i] != ends[j] for k in (i, j)}
        total += len(lines)
        rhymed += len(paired)
    return rhymed / total if total else 0.0


def scheme_f1(sample: str, reference: str) -> float:
    """F1 of the rhyming line pairs of ``sample`` against those of the ``reference`` scheme
    (pairs past the reference's last line are left out)."""
    def pairs(s: str) -> set[tuple[int, int]]:
        return {(i, j) for j in range(len(s)) for i in range(j) if s[i] == s[j]}

    ref = pairs(reference)
    got = {p for p in pairs(sample) if p[1] < len(reference)}
    hits = len(ref & got)
    return 2 * hits / (len(ref) + len(got)) if ref or got else 1.0


def most_common_scheme(songs: list[str], window: int = 4) -> str:
    """The artist's most frequent stanza scheme (ties: the longer one)."""
    counts = Counter(scheme(lines, window) for song in songs for lines in stanzas(song))
    return max(counts, key=lambda s: (counts[s], len(s))) if counts else ""


def line_counts(songs: list[str]) -> list[int]:
    """Lines per song (blank lines and section tags not counted)."""
    return [sum(map(len, stanzas(song))) for song in songs]


def syllables(line: str) -> int:
    """Syllables of a line: CMU counts, vowel groups for unknown words."""
    total = 0
    for word in words(line):
        phones = _phones(word)
        if phones:
            total += pronouncing.syllable_count(phones[0])
        else:
            total += max(1, len(re.findall(r"[aeiouy]+", re.sub(r"e$", "", word))))
    return total


def wasserstein(a: list[int], b: list[int]) -> float:
    """Earth mover's distance between two samples (NaN when either is empty)."""
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(a, b)) if a and b else math.nan


def ngrams(texts: list[str], n: int) -> list[tuple[str, ...]]:
    """All word n-grams of all texts."""
    return [tuple(w[i : i + n]) for w in map(words, texts) for i in range(len(w) - n + 1)]


def distinct(texts: list[str], n: int) -> float:
    """Distinct-n: unique word n-grams over all n-grams of all texts."""
    grams = ngrams(texts, n)
    return len(set(grams)) / len(grams) if grams else 0.0


class CopyIndex:
    """The training lyrics, indexed to find word n-grams a sample copies."""

    def __init__(self, songs: list[str], n: int = 8) -> None:
        self.n = n
        self.corpus = "|".join(" " + " ".join(words(song)) + " " for song in songs)
        self.ngrams = set(ngrams(songs, n))

    def longest(self, text: str) -> int:
        """Length in words of the longest word sequence of ``text`` found in the training lyrics."""
        w, best = words(text), 0
        for i in range(len(w)):
            while i + best < len(w) and f" {' '.join(w[i : i + best + 1])} " in self.corpus:
                best += 1
        return best

    def copied_share(self, texts: list[str]) -> float:
        """Share of the texts' word n-grams that occur in the training lyrics."""
        grams = ngrams(texts, self.n)
        return sum(g in self.ngrams for g in grams) / len(grams) if grams else 0.0


def song_metrics(samples: list[str], artist: list[str], copies: CopyIndex,
                 window: int = 4) -> dict[str, float]:
    """Rhyme, meter, structure, diversity and copy metrics of ``samples`` against the
    ``artist``'s training songs."""
    def line_syllables(songs: list[str]) -> list[int]:
        return [syllables(line) for song in songs for lines in stanzas(song) for line in lines]

    reference = most_common_scheme(artist, window)
    sample_syl, sample_lines = line_syllables(samples), line_counts(samples)
    artist_lines = line_counts(artist)
    usual = max(set(artist_lines), key=lambda k: (artist_lines.count(k), k), default=0)
    f1 = [scheme_f1(scheme(lines, window), reference) for s in samples for lines in stanzas(s)]

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else math.nan

    return {
        "rhyme_density": mean([rhyme_density(s, window) for s in samples]),
        "scheme_f1": mean(f1),
        "syllables_per_line": mean(sample_syl),
        "syllables_w1": wasserstein(sample_syl, line_syllables(artist)),
        "lines_per_song": mean(sample_lines),
        "lines_w1": wasserstein(sample_lines, artist_lines),
        "usual_line_count_share": mean([float(n == usual) for n in sample_lines]),
        "distinct_1": distinct(samples, 1),
        "distinct_2": distinct(samples, 2),
        "longest_copy": mean([copies.longest(s) for s in samples]),
        f"copied_{copies.n}gram_share": copies.copied_share(samples),
    }


def rhyme_letters(song: str, window: int = 4) -> str:
    """One character per line of ``song`` (``song.split("\\n")``): the line's end-rhyme letter,
    a space for a blank line or a section tag."""
    letters = iter("".join(scheme(lines, window) for lines in stanzas(song)))
    return "".join(" " if TAG.match(line) or not words(line) else next(letters)
                   for line in song.split("\n"))


def shape(song: str) -> dict:
    """A song's line count and syllables per line (space-separated, and their mean)."""
    counts = [syllables(line) for lines in stanzas(song) for line in lines]
    return {"lines": len(counts), "line_syllables": " ".join(map(str, counts)),
            "syllables_per_line": sum(counts) / len(counts) if counts else math.nan}


def song_row(song: str, reference: str, copies: CopyIndex, window: int = 4) -> dict:
    """One song's own figures, as the report shows them: the text with each line's rhyme
    letter, the stanza schemes, scheme F1 against the artist's ``reference`` scheme, rhyme
    density, line count, syllables (per line, space-separated, and their mean) and copying."""
    f1 = [scheme_f1(scheme(lines, window), reference) for lines in stanzas(song)]
    return {"song": song, "letters": rhyme_letters(song, window),
            "scheme": song_scheme(song, window),
            "scheme_f1": sum(f1) / len(f1) if f1 else math.nan,
            "rhyme_density": rhyme_density(song, window), **shape(song),
            "longest_copy": copies.longest(song),
            f"copied_{copies.n}gram_share": copies.copied_share([song])}


def song_rows(songs: list[str], artist: list[str], cfg) -> list[dict]:
    """``song_row`` of each of ``songs`` against the ``artist``'s training songs, with the
    ``[evaluate]`` settings ``cfg``."""
    reference = most_common_scheme(artist, cfg.rhyme_window)
    copies = CopyIndex(artist, cfg.copy_ngram)
    return [song_row(song, reference, copies, cfg.rhyme_window) for song in songs]


def judge(songs: list[str], artist: list[str], cfg) -> dict[str, float]:
    """``song_metrics`` of ``songs`` with the ``[evaluate]`` settings ``cfg`` (rhyme window,
    copy n-gram): the model's samples, or the artist's held-out songs as the reference."""
    return song_metrics(songs, artist, CopyIndex(artist, cfg.copy_ngram), cfg.rhyme_window)
