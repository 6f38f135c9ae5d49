"""What makes a generated tune good ABC: header, bars that fit the meter, keys, variety, novelty."""

from __future__ import annotations

import re
from collections import Counter

from tlgen_abc import notation

FULL_SHARE = 0.9  # a tune is metrically consistent when this share of its checked bars is full


def key_distribution(tunes: list[str]) -> dict[str, float]:
    """Share of each key among the tunes whose ``K:`` is readable."""
    keys = Counter(k for k in (notation.key(notation.parse(t)) for t in tunes) if k)
    total = sum(keys.values())
    return {k: v / total for k, v in keys.most_common()} if total else {}


def consistent(tune: notation.Tune) -> tuple[bool, int, int]:
    """(consistent, full bars, checked bars): at least 2 bars checked and 90% of them full."""
    full, checked = notation.bar_check(tune)
    return checked >= 2 and full >= FULL_SHARE * checked, full, checked


def distinct_ngrams(tunes: list[notation.Tune], n: int) -> float:
    """Distinct note n-grams over all note n-grams of the tunes (distinct-n)."""
    grams = [tuple(seq[i : i + n]) for seq in (notation.notes(t) for t in tunes)
             for i in range(len(seq) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def copy_rate(samples: list[notation.Tune], training: list[notation.Tune], chars: int) -> float:
    """Share of samples whose body has a run of ``chars`` characters (spaces ignored) that
    also occurs in a training tune."""
    def squeeze(tune: notation.Tune) -> str:
        return re.sub(r"\s+", "", tune.body)

    seen = {text[i : i + chars] for text in map(squeeze, training)
            for i in range(len(text) - chars + 1)}
    copies = sum(any(text[i : i + chars] in seen for i in range(len(text) - chars + 1))
                 for text in map(squeeze, samples))
    return copies / len(samples) if samples else 0.0


def tune_metrics(samples: list[str], training: list[str], ngram: int = 4,
                 copy_chars: int = 30) -> dict[str, float]:
    """The ABC metrics of ``samples`` against the ``training`` tunes (flat numbers)."""
    parsed, train = [notation.parse(s) for s in samples], [notation.parse(t) for t in training]
    checks = [consistent(t) for t in parsed]
    want, got = key_distribution(training), key_distribution(samples)
    n = max(1, len(parsed))
    return {
        "header_ok": sum(t.has_header for t in parsed) / n,
        "bars_consistent": sum(c[0] for c in checks) / n,
        "bars_full": sum(c[1] for c in checks) / max(1, sum(c[2] for c in checks)),
        "key_valid": sum(notation.key(t) is not None for t in parsed) / n,
        "key_overlap": sum(min(p, got.get(k, 0.0)) for k, p in want.items()),
        f"distinct_{ngram}": distinct_ngrams(parsed, ngram),
        "copy_rate": copy_rate(parsed, train, copy_chars),
        "mean_chars": sum(len(s) for s in samples) / n,
    }
