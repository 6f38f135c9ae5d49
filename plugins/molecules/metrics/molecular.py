"""Metrics of generated SMILES: MOSES-compatible set metrics and per-molecule RDKit scores.

MOSES definitions (Polykovskiy et al. 2020): Morgan r=2, 1024-bit fingerprints;
set metrics over all valid samples; unique@k and novelty on canonical SMILES;
Scaf counts Bemis-Murcko scaffolds with at least two rings.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import QED, rdFingerprintGenerator
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams
from rdkit.Chem.Scaffolds import MurckoScaffold

RDLogger.DisableLog("rdApp.*")


def parse(smiles: list[str]) -> list[Chem.Mol | None]:
    """RDKit molecules (None where the SMILES is empty or invalid)."""
    return [Chem.MolFromSmiles(s) if s else None for s in smiles]


def canonical(mols: list[Chem.Mol]) -> list[str]:
    return [Chem.MolToSmiles(m) for m in mols]


def fingerprints(mols: list[Chem.Mol], size: int = 1024) -> np.ndarray:
    """Morgan radius-2 fingerprints of ``size`` bits as a uint8 matrix (one row per molecule)."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=size)
    if not mols:
        return np.zeros((0, size), dtype=np.uint8)
    return np.stack([generator.GetFingerprintAsNumPy(m) for m in mols]).astype(np.uint8)


def tanimoto(ref: np.ndarray, gen: np.ndarray) -> np.ndarray:
    """The Tanimoto similarity matrix of two fingerprint matrices (gen rows x ref columns).

    Bit counts are products of 0/1 matrices; in bf16 they are exact up to 256 bits set,
    so bf16 matrix units are used where the CPU has them and the counts allow it."""
    import torch

    a, b = torch.from_numpy(gen), torch.from_numpy(ref)
    na, nb = a.sum(1, dtype=torch.float32), b.sum(1, dtype=torch.float32)
    exact = max(na.max().item(), nb.max().item()) <= 256
    fast = exact and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    dtype = torch.bfloat16 if fast else torch.float32
    both = (a.to(dtype) @ b.to(dtype).T).float()
    union = na[:, None] + nb[None, :] - both
    return torch.where(union > 0, both / union.clamp(min=1), 1.0).numpy()


def max_similarity(ref: np.ndarray, gen: np.ndarray, chunk: int = 2000) -> np.ndarray:
    """For each generated fingerprint, its highest Tanimoto to any reference fingerprint."""
    if len(ref) == 0 or len(gen) == 0:
        return np.full(len(gen), np.nan)
    return np.concatenate([tanimoto(ref, gen[i:i + chunk]).max(1)
                           for i in range(0, len(gen), chunk)])


def internal_diversity(fps: np.ndarray, p: int = 1, chunk: int = 2000) -> float:
    """MOSES IntDiv_p: 1 - mean over molecules of (mean Tanimoto^p to all, itself
    included)^(1/p)."""
    if len(fps) == 0:
        return float("nan")
    rows = [(tanimoto(fps, fps[i:i + chunk]) ** p).mean(1) ** (1 / p)
            for i in range(0, len(fps), chunk)]
    return float(1 - np.concatenate(rows).mean())


def fragments(mols: list[Chem.Mol]) -> Counter[str]:
    """BRICS fragment counts."""
    counts: Counter[str] = Counter()
    for mol in mols:
        counts.update(Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split("."))
    return counts


def scaffold(mol: Chem.Mol, min_rings: int = 2) -> str | None:
    """Bemis-Murcko scaffold SMILES, None below ``min_rings`` rings."""
    try:
        core = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    if core.GetRingInfo().NumRings() < min_rings:
        return None
    return Chem.MolToSmiles(core) or None


def scaffolds(mols: list[Chem.Mol], min_rings: int = 2) -> Counter[str]:
    counts = Counter(scaffold(m, min_rings) for m in mols)
    counts.pop(None, None)
    return counts


def cosine(ref: Counter[str], gen: Counter[str]) -> float:
    """Cosine similarity of two count vectors given as Counters (MOSES Frag/Scaf)."""
    if not ref or not gen:
        return float("nan")
    dot = sum(ref[k] * gen[k] for k in ref.keys() & gen.keys())
    norm = np.sqrt(sum(v * v for v in ref.values())) * np.sqrt(sum(v * v for v in gen.values()))
    return float(dot / norm)


@cache
def _moses_filters() -> list[Chem.Mol]:
    """MOSES's MCF and PAINS SMARTS, read from the molsets wheel."""
    import pandas as pd

    from ..data.molecules import package_file

    mcf = pd.read_csv(package_file("moses", "metrics/mcf.csv"))["smarts"]
    pains = pd.read_csv(package_file("moses", "metrics/wehi_pains.csv"), names=["smarts", "names"])
    return [Chem.MolFromSmarts(s) for s in [*mcf, *pains["smarts"]]]


def passes_moses_filters(mol: Chem.Mol) -> bool:
    """MOSES filters: no ring larger than 7, no charge, atoms C N S O F Cl Br H, no MCF/PAINS
    match."""
    if any(len(ring) >= 8 for ring in mol.GetRingInfo().AtomRings()):
        return False
    if any(a.GetFormalCharge() or a.GetSymbol() not in _ALLOWED for a in mol.GetAtoms()):
        return False
    with_h = Chem.AddHs(mol)
    return not any(with_h.HasSubstructMatch(p) for p in _moses_filters())


_ALLOWED = {"C", "N", "S", "O", "F", "Cl", "Br", "H"}


@cache
def _catalog(name: str) -> FilterCatalog:
    params = FilterCatalogParams()
    params.AddCatalog(getattr(FilterCatalogParams.FilterCatalogs, name))
    return FilterCatalog(params)


def alert(mol: Chem.Mol, name: str) -> bool:
    """Whether ``mol`` matches RDKit's ``name`` catalogue (PAINS, BRENK, ...)."""
    return _catalog(name).HasMatch(mol)


@cache
def _sascorer():
    from rdkit.Contrib.SA_Score import sascorer

    return sascorer


def properties(mols: list[Chem.Mol]) -> dict[str, np.ndarray]:
    """Per-molecule QED, SA, logP and molecular weight. QED's own descriptors are computed
    once and give logP (Crippen) and MW as well: the same numbers as ``Crippen.MolLogP`` and
    ``Descriptors.MolWt``, without a second Crippen pass (a third of QED's time)."""
    sa = _sascorer()
    described = [QED.properties(m) for m in mols]
    return {
        "QED": np.array([QED.qed(m, qedProperties=d) for m, d in zip(mols, described)]),
        "SA": np.array([sa.calculateScore(m) for m in mols]),
        "logP": np.array([d.ALOGP for d in described]),
        "MW": np.array([d.MW for d in described]),
    }


@dataclass
class Reference:
    """What samples are compared against, computed once per run: the training set and the
    held-out series."""

    train: set[str]
    train_fps: np.ndarray
    test_fps: np.ndarray
    test_frags: Counter[str]
    test_scaffolds: Counter[str]
    test_fcd: dict

    @classmethod
    def build(cls, train: list[str], test: list[str], fcd: bool, train_limit: int) -> Reference:
        """Novelty against all of ``train``; similarity against its first ``train_limit``."""
        test_mols = [m for m in parse(test) if m is not None]
        return cls(
            train=set(train),
            train_fps=fingerprints([m for m in parse(train[:train_limit]) if m is not None]),
            test_fps=fingerprints(test_mols),
            test_frags=fragments(test_mols),
            test_scaffolds=scaffolds(test_mols),
            test_fcd=fcd_model().precalc(canonical(test_mols)) if fcd else {},
        )


@cache
def fcd_model():
    """ChemNet for the Frechet ChemNet Distance (shipped in fcd_torch), loaded once."""
    import fcd_torch

    return fcd_torch.FCD(device="cpu", n_jobs=1, batch_size=512)


def set_metrics(samples: list[str], ref: Reference, ks: tuple[int, ...] = (1000, 10000)
                ) -> tuple[dict[str, float], list[Chem.Mol], np.ndarray]:
    """MOSES metrics of ``samples`` against ``ref``; also the valid molecules and their
    fingerprints."""
    mols = [m for m in parse(samples) if m is not None]
    out = {"valid": len(mols) / max(len(samples), 1)}
    smiles = canonical(mols)
    for k in ks:
        if len(smiles) >= k:
            out[f"unique@{k // 1000}k"] = len(set(smiles[:k])) / k
    if not mols:
        return out, mols, fingerprints(mols)
    unique = set(smiles)
    fps = fingerprints(mols)
    out |= {
        "unique": len(unique) / len(smiles),
        "novelty": len(unique - ref.train) / len(unique),
        "IntDiv": internal_diversity(fps, 1),
        "IntDiv2": internal_diversity(fps, 2),
        "Filters": float(np.mean([passes_moses_filters(m) for m in mols])),
        "SNN/Test": float(np.mean(max_similarity(ref.test_fps, fps))),
        "Frag/Test": cosine(ref.test_frags, fragments(mols)),
        "Scaf/Test": cosine(ref.test_scaffolds, scaffolds(mols)),
    }
    if ref.test_fcd and len(smiles) > 1:
        out["FCD/Test"] = float(fcd_model()(gen=smiles, pref=ref.test_fcd))
    return out, mols, fps


def scaffold_recovery(mols: list[Chem.Mol], ref: Reference) -> float:
    """Fraction of the held-out scaffolds that some sample has."""
    if not ref.test_scaffolds:
        return float("nan")
    return len(ref.test_scaffolds.keys() & scaffolds(mols).keys()) / len(ref.test_scaffolds)
