"""Scoring molecules for the reward stage: RDKit components, REINVENT 4's transforms onto
[0, 1], and their weighted arithmetic or geometric mean times the filters.

A ``function`` component runs the user's own Python code (``module:function`` or
``file.py:function``, given a list of canonical SMILES, returning one number each).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import QED, Crippen, Descriptors, rdFingerprintGenerator, rdMolDescriptors

from tlgen import TlgenError

from .metrics import molecular as M
from .config import Component, MoleculesScoring, Transform

Measure = Callable[[list[Chem.Mol], list[str]], np.ndarray]

DESCRIPTORS: dict[str, Callable[[Chem.Mol], float]] = {
    "qed": QED.qed,
    "sa": lambda mol: M._sascorer().calculateScore(mol),
    "logp": Crippen.MolLogP,
    "mw": Descriptors.MolWt,
    "tpsa": rdMolDescriptors.CalcTPSA,
    "hbd": rdMolDescriptors.CalcNumHBD,
    "hba": rdMolDescriptors.CalcNumHBA,
    "rotatable_bonds": rdMolDescriptors.CalcNumRotatableBonds,
    "pains": lambda mol: float(not M.alert(mol, "PAINS")),
    "brenk": lambda mol: float(not M.alert(mol, "BRENK")),
}


# ---------------------------------------------------------------- transforms (REINVENT 4)
def stable_sigmoid(x: np.ndarray, k: float) -> np.ndarray:
    """1 / (1 + 10^(-k x)), computed without overflow."""
    h = np.asarray(k * x * math.log(10), dtype=float)
    e = np.exp(-np.abs(h))
    return np.where(h >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid(x: np.ndarray, low: float, high: float, k: float) -> np.ndarray:
    """0.5 at the midpoint of [low, high]; steeper with ``k`` (a step where low == high)."""
    centred = np.asarray(x, dtype=float) - (high + low) / 2
    if high == low:
        return (10 * k * centred > 0).astype(float)
    return stable_sigmoid(centred, 10 * k / (high - low))


def double_sigmoid(x: np.ndarray, low: float, high: float, coef_div: float = 100.0,
                   coef_si: float = 150.0, coef_se: float = 150.0) -> np.ndarray:
    """Near 1 inside [low, high] (0.5 at each bound), 0 far outside."""
    x = np.asarray(x, dtype=float)
    left = x < low + (high - low) / 2
    if coef_div == 0:
        inside = np.where(left, (x - low) * coef_si > 0, (x - high) * coef_se <= 0)
        return inside.astype(float)
    return np.where(left, stable_sigmoid(x - low, coef_si / coef_div),
                    1 - stable_sigmoid(x - high, coef_se / coef_div))


def transform(values: np.ndarray, cfg: Transform | None) -> np.ndarray:
    """``values`` mapped onto [0, 1] by ``cfg`` (unchanged without one)."""
    x = np.asarray(values, dtype=float)
    if cfg is None:
        return x
    if cfg.type in ("sigmoid", "reverse_sigmoid"):
        up = sigmoid(x, cfg.low, cfg.high, cfg.k)
        return up if cfg.type == "sigmoid" else 1 - up
    if cfg.type == "double_sigmoid":
        return double_sigmoid(x, cfg.low, cfg.high, cfg.coef_div, cfg.coef_si, cfg.coef_se)
    if cfg.type == "step":
        return ((x >= cfg.low) & (x <= cfg.high)).astype(float)
    if cfg.type == "left_step":
        return (x <= cfg.low).astype(float)
    return (x >= cfg.high).astype(float)


def aggregate(scores: list[np.ndarray], weights: list[float], how: str) -> np.ndarray:
    """REINVENT 4's weighted means (weights normalised; geometric: scores floored at 1e-8)."""
    s, w = np.asarray(scores, dtype=float), np.asarray(weights, dtype=float)[:, None]
    if how == "arithmetic":
        return (s * w).sum(0) / w.sum()
    return np.prod(np.maximum(s, 1e-8) ** (w / w.sum()), axis=0)


# ---------------------------------------------------------------- components
def similarity_measure(references: list[str], radius: int = 2, features: bool = False,
                       counts: bool = False, bits: int = 2048) -> Callable[[list], np.ndarray]:
    """The highest Tanimoto similarity of each molecule to ``references``: Morgan (ECFP) or
    feature-Morgan (FCFP) fingerprints, bit vectors or counts (GuacaMol's FCFP4: counts)."""
    invariants = rdFingerprintGenerator.GetMorganFeatureAtomInvGen() if features else None
    generator = rdFingerprintGenerator.GetMorganGenerator(
        radius=radius, fpSize=bits, atomInvariantsGenerator=invariants)
    fingerprint = (generator.GetSparseCountFingerprint if counts
                   else generator.GetFingerprint)
    refs = [fingerprint(Chem.MolFromSmiles(s)) for s in references]

    def measure(mols: list[Chem.Mol]) -> np.ndarray:
        return np.array([max(DataStructs.BulkTanimotoSimilarity(fingerprint(m), refs))
                         for m in mols])

    return measure


def substructure_measure(smarts: list[str], alert: bool) -> Callable[[list], np.ndarray]:
    """1 where a molecule matches any pattern (``alert``: 1 where it matches none)."""
    patterns = [Chem.MolFromSmarts(s) for s in smarts]

    def measure(mols: list[Chem.Mol]) -> np.ndarray:
        hits = np.array([any(m.HasSubstructMatch(p) for p in patterns) for m in mols], float)
        return 1 - hits if alert else hits

    return measure


def load_function(spec: str, label: str) -> Callable:
    """The user's ``module:function`` (or ``path/to/file.py:function``), imported: this runs
    their code."""
    where, _, name = spec.rpartition(":")
    if not where or not name:
        raise TlgenError(f"scoring component {label!r}: write function = \"module:function\" "
                         f"or \"path/to/file.py:function\", not {spec!r}")
    module = _import(where, label)
    found = getattr(module, name, None)
    if not callable(found):
        names = [n for n in dir(module) if callable(getattr(module, n)) and not n.startswith("_")]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise TlgenError(f"scoring component {label!r}: {where} has no function {name!r}{hint}")
    return found


def _import(where: str, label: str):
    try:
        if where.endswith(".py"):
            path = Path(where).expanduser()
            if not path.is_file():
                raise TlgenError(f"scoring component {label!r}: file {path} does not exist")
            spec = importlib.util.spec_from_file_location(f"tlgen_scoring_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
        return importlib.import_module(where)
    except TlgenError:
        raise
    except Exception as exc:
        raise TlgenError(f"scoring component {label!r}: cannot import {where} "
                         f"({type(exc).__name__}: {exc})") from None


def call_function(function: Callable, spec: str, label: str, smiles: list[str]) -> np.ndarray:
    """The user function's scores of ``smiles``, checked: one finite number each. A failure
    is a TlgenError naming the SMILES it failed on."""
    try:
        out = function(list(smiles))
    except Exception as exc:
        culprit = _culprit(function, smiles)
        raise TlgenError(f"scoring component {label!r}: {spec} raised {type(exc).__name__}: "
                         f"{exc} (on SMILES {culprit!r})") from None
    try:
        values = np.asarray(out, dtype=float)
    except (TypeError, ValueError):
        raise TlgenError(f"scoring component {label!r}: {spec} returned {type(out).__name__} "
                         f"{str(out)[:60]!r}; it must return a list of numbers") from None
    if values.shape != (len(smiles),):
        raise TlgenError(f"scoring component {label!r}: {spec} returned {values.size} values of "
                         f"shape {values.shape} for {len(smiles)} SMILES; it must return one "
                         "number per SMILES")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise TlgenError(f"scoring component {label!r}: {spec} returned {values[bad[0]]} for "
                         f"SMILES {smiles[bad[0]]!r}; scores must be finite numbers")
    return values


def _culprit(function: Callable, smiles: list[str]) -> str:
    """The first SMILES the function fails on alone (else the batch's first)."""
    for one in smiles:
        try:
            function([one])
        except Exception:
            return one
    return smiles[0] if smiles else ""


# ---------------------------------------------------------------- the scorer
@dataclass
class Part:
    """A configured component: its label, config and how it measures molecules."""

    label: str
    cfg: Component
    measure: Measure


class Scorer:
    """Scores valid molecules: raw values per component, transformed, aggregated, filtered."""

    def __init__(self, cfg: MoleculesScoring, parts: list[Part]) -> None:
        self.cfg = cfg
        self.parts = parts
        self.labels = [p.label for p in parts]

    def __call__(self, mols: list[Chem.Mol], smiles: list[str]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Total scores, and the transformed and raw values (components x molecules)."""
        raw = np.array([p.measure(mols, smiles) for p in self.parts], dtype=float)
        raw = raw.reshape(len(self.parts), len(mols))
        done = np.array([_unit(transform(r, p.cfg.transform), p, smiles)
                         for r, p in zip(raw, self.parts)]).reshape(raw.shape)
        mean = [i for i, p in enumerate(self.parts) if not p.cfg.is_filter]
        total = aggregate([done[i] for i in mean], [self.parts[i].cfg.weight for i in mean],
                          self.cfg.aggregation)
        for i, part in enumerate(self.parts):
            if part.cfg.is_filter:
                total = total * done[i]
        return np.clip(total, 0.0, 1.0), done, raw


def _unit(values: np.ndarray, part: Part, smiles: list[str]) -> np.ndarray:
    """``values`` after a check that they lie in [0, 1]."""
    bad = np.flatnonzero((values < 0) | (values > 1) | ~np.isfinite(values))
    if bad.size:
        raise TlgenError(f"scoring component {part.label!r} gave {values[bad[0]]:g} for SMILES "
                         f"{smiles[bad[0]]!r}, outside [0, 1]; give it a transform, e.g. "
                         "transform = {type = \"sigmoid\", low = ..., high = ..., k = 0.5}")
    return values


def build(cfg: MoleculesScoring, property_model: Callable[[], object],
          series: list[str]) -> Scorer:
    """The scorer of ``cfg``; ``property_model()`` gives the series' activity model and
    ``series`` its training SMILES, for the components that need them; user functions are
    imported and tried on two of the series' molecules."""
    if not cfg.components:
        raise TlgenError("train.mode = reward needs scoring components: add [scoring.components"
                         ".NAME] tables (see examples/molecules/design_series.toml)")
    return Scorer(cfg, [Part(label, c, _measure(label, c, property_model, series))
                        for label, c in cfg.components.items()])


def _measure(label: str, c: Component, property_model, series: list[str]) -> Measure:
    if c.type in DESCRIPTORS:
        one = DESCRIPTORS[c.type]
        return lambda mols, smiles: np.array([one(m) for m in mols], dtype=float)
    if c.type in ("similarity", "series_similarity"):
        references = c.smiles if c.type == "similarity" else series
        similar = similarity_measure(references, c.radius, c.features, c.counts, c.bits)
        return lambda mols, smiles: similar(mols)
    if c.type in ("substructure", "alerts"):
        match = substructure_measure(c.smarts, alert=c.type == "alerts")
        return lambda mols, smiles: match(mols)
    if c.type == "predicted_activity":
        model = property_model()
        return lambda mols, smiles: model.predict(mols) if mols else np.zeros(0)
    function = load_function(c.function, label)
    call_function(function, c.function, label, series[:2])  # fail before the run, not later
    return lambda mols, smiles: call_function(function, c.function, label, smiles)
