"""Drift of per-item metrics, by Evidently's default rules (scipy does the statistics).

Evidently picks the test by the reference's size and the column's kind: with at most 1,000
reference rows, a numeric column (more than 5 distinct values) gets the two-sample
Kolmogorov-Smirnov test, a binary one the two-proportion Z-test, any other categorical one
chi-squared, each drifted at p < 0.05; above 1,000 rows, the normed Wasserstein distance
(numeric) or the Jensen-Shannon distance (categorical), drifted at >= 0.1. A window drifts
as a whole when at least ``drift_share`` (0.5) of its columns do.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

SMALL = 1000  # reference rows up to which the p-value tests are used
MAX_CATEGORIES = 30  # a text column with more distinct values is free text: not tested


@dataclass
class ColumnDrift:
    column: str
    test: str  # "KS", "Z", "chi2", "Wasserstein", "Jensen-Shannon"
    score: float  # p-value, or distance
    drifted: bool
    reference: float | None  # mean (numeric/binary) in the reference, for the report
    current: float | None

    def describe(self) -> str:
        kind = "p" if self.test in ("KS", "Z", "chi2") else "d"
        moved = (f", {self.reference:.3g} -> {self.current:.3g}"
                 if self.reference is not None and self.current is not None else "")
        return f"{self.column} ({self.test} {kind}={self.score:.2g}{moved})"


def column_kinds(rows: list[dict[str, Any]]) -> dict[str, str]:
    """``numeric``, ``binary`` or ``categorical`` for each testable column of the reference
    rows (free text and columns with one value only are left out)."""
    kinds = {}
    for name in sorted({key for row in rows for key in row}):
        values = [row.get(name) for row in rows if _present(row.get(name))]
        distinct = set(values)
        if len(distinct) < 2:
            continue
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            kinds[name] = "numeric" if len(distinct) > 5 else (
                "binary" if len(distinct) == 2 else "categorical")
        elif all(isinstance(v, bool) for v in values) or len(distinct) == 2:
            kinds[name] = "binary"
        elif len(distinct) <= MAX_CATEGORIES:
            kinds[name] = "categorical"
    return kinds


def drift_of(name: str, kind: str, reference: list, current: list,
                alpha: float = 0.05, threshold: float = 0.1) -> ColumnDrift | None:
    """One column's drift test (None when the window has no value for it)."""
    ref = [v for v in reference if _present(v)]
    cur = [v for v in current if _present(v)]
    if not ref or not cur:
        return None
    if kind == "numeric":
        r, c = np.asarray(ref, dtype=float), np.asarray(cur, dtype=float)
        means = float(r.mean()), float(c.mean())
        if len(ref) <= SMALL:
            p = float(stats.ks_2samp(r, c).pvalue)
            return ColumnDrift(name, "KS", p, p < alpha, *means)
        d = float(stats.wasserstein_distance(r, c) / (r.std() or 1.0))
        return ColumnDrift(name, "Wasserstein", d, d >= threshold, *means)
    categories = sorted({*map(str, ref), *map(str, cur)})
    rc, cc = Counter(map(str, ref)), Counter(map(str, cur))
    r_counts = np.array([rc[k] for k in categories], dtype=float)
    c_counts = np.array([cc[k] for k in categories], dtype=float)
    means = _shares(kind, ref, cur)
    if len(ref) > SMALL:
        d = float(jensenshannon(r_counts / r_counts.sum(), c_counts / c_counts.sum()))
        return ColumnDrift(name, "Jensen-Shannon", d, d >= threshold, *means)
    if kind == "binary" and len(categories) == 2:
        p = _two_proportion_p(r_counts, c_counts)
        return ColumnDrift(name, "Z", p, p < alpha, *means)
    expected = r_counts / r_counts.sum() * c_counts.sum()
    keep = expected > 0
    if not keep.all() and c_counts[~keep].sum() > 0:  # a category the reference never had
        expected = (r_counts + 0.5) / (r_counts + 0.5).sum() * c_counts.sum()
        keep = np.ones_like(keep)
    p = float(stats.chisquare(c_counts[keep], expected[keep]).pvalue)
    return ColumnDrift(name, "chi2", p, p < alpha, *means)


def _two_proportion_p(ref: np.ndarray, cur: np.ndarray) -> float:
    """Two-sided p-value that the share of the second category is the same in both."""
    n1, n2 = ref.sum(), cur.sum()
    p1, p2 = ref[1] / n1, cur[1] / n2
    pooled = (ref[1] + cur[1]) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0 if p1 == p2 else 0.0
    return float(2 * stats.norm.sf(abs(p1 - p2) / se))


def _shares(kind: str, ref: list, cur: list) -> tuple[float | None, float | None]:
    """For a binary column, the share of its 'true' (or second) value in each set."""
    if kind != "binary":
        return None, None
    top = max({*map(str, ref), *map(str, cur)})
    return (sum(str(v) == top for v in ref) / len(ref), sum(str(v) == top for v in cur) / len(cur))


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))
