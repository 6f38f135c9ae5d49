"""PMO's RDKit-computable objectives (Gao et al. 2022, from GuacaMol's goal-directed suite,
Brown et al. 2019), written from GuacaMol's definitions with RDKit.

Each task is a user-function scoring component: a list of SMILES in, one score in [0, 1]
each out (0 for an unparsable SMILES), e.g. in a run config::

    [scoring.components.median1]
    type = "function"
    function = "tlgen.plugins.molecules.pmo_tasks:median1"

The ``guacamol`` package itself (0.5.5) does not import with current SciPy (it imports
``scipy.histogram``), hence this module. Fingerprints as GuacaMol's: ECFP4/ECFP6/FCFP4 are
unfolded Morgan counts, AP atom pairs (max distance 10) as counts, PHCO Gobbi's 2D
pharmacophores; similarity is Tanimoto on those.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
from rdkit import Chem, DataStructs, RDLogger
from rdkit.Chem import QED, Crippen, Descriptors, rdFingerprintGenerator, rdMolDescriptors
from rdkit.Chem.Pharm2D import Generate, Gobbi_Pharm2D

Score = Callable[[Chem.Mol], float]

_FEATURES = rdFingerprintGenerator.GetMorganFeatureAtomInvGen()
_GENERATORS = {
    "ECFP4": rdFingerprintGenerator.GetMorganGenerator(radius=2),
    "ECFP6": rdFingerprintGenerator.GetMorganGenerator(radius=3),
    "FCFP4": rdFingerprintGenerator.GetMorganGenerator(radius=2, atomInvariantsGenerator=_FEATURES),
    "AP": rdFingerprintGenerator.GetAtomPairGenerator(maxDistance=10),
}


def fingerprint(mol: Chem.Mol, kind: str):
    """GuacaMol's fingerprint ``kind`` (ECFP4, ECFP6, FCFP4, AP, PHCO) of ``mol``."""
    if kind == "PHCO":
        return Generate.Gen2DFingerprint(mol, Gobbi_Pharm2D.factory)
    return _GENERATORS[kind].GetSparseCountFingerprint(mol)


# ---------------------------------------------------------------- GuacaMol's modifiers
def gaussian(mu: float, sigma: float) -> Callable[[float], float]:
    return lambda x: math.exp(-0.5 * ((x - mu) / sigma) ** 2)


def at_least(mu: float, sigma: float) -> Callable[[float], float]:
    """1 from ``mu`` up, a half Gaussian below (GuacaMol's MaxGaussianModifier)."""
    return lambda x: gaussian(mu, sigma)(min(x, mu))


def at_most(mu: float, sigma: float) -> Callable[[float], float]:
    """1 up to ``mu``, a half Gaussian above (GuacaMol's MinGaussianModifier)."""
    return lambda x: gaussian(mu, sigma)(max(x, mu))


def clipped(upper: float) -> Callable[[float], float]:
    """Linear from 0 at x = 0 to 1 at ``upper``, clipped (GuacaMol's ClippedScoreModifier)."""
    return lambda x: min(max(x / upper, 0.0), 1.0)


# ---------------------------------------------------------------- terms
def similar(smiles: str, kind: str, modifier: Callable[[float], float] = float) -> Score:
    """The Tanimoto similarity to ``smiles`` on fingerprint ``kind``, through ``modifier``."""
    target = fingerprint(Chem.MolFromSmiles(smiles), kind)
    return lambda mol: modifier(DataStructs.TanimotoSimilarity(fingerprint(mol, kind), target))


def descriptor(function: Callable[[Chem.Mol], float], modifier: Callable[[float], float]) -> Score:
    return lambda mol: modifier(function(mol))


def has(smarts: str, wanted: bool = True) -> Score:
    """1 when ``mol`` matches ``smarts`` (``wanted=False``: 1 when it does not)."""
    pattern = Chem.MolFromSmarts(smarts)
    return lambda mol: float(mol.HasSubstructMatch(pattern) == wanted)


def count(element: str) -> Callable[[Chem.Mol], int]:
    def counter(mol: Chem.Mol) -> int:
        mol = Chem.AddHs(mol) if element == "H" else mol
        return sum(atom.GetSymbol() == element for atom in mol.GetAtoms())
    return counter


def isomer(formula: str) -> Score:
    """GuacaMol's isomer score: a Gaussian of each element's count (sigma 1) and of the total
    atom count with hydrogens (sigma 2) around the formula's, geometric mean."""
    wanted = [(e, int(n or 1)) for e, n in re.findall(r"([A-Z][a-z]?)(\d*)", formula)]
    terms = [descriptor(count(e), gaussian(n, 1.0)) for e, n in wanted]
    total = sum(n for _, n in wanted)
    terms.append(descriptor(lambda mol: Chem.AddHs(mol).GetNumAtoms(), gaussian(total, 2.0)))
    return geometric(terms)


def geometric(terms: list[Score]) -> Score:
    return lambda mol: float(np.prod([t(mol) for t in terms]) ** (1 / len(terms)))


def arithmetic(terms: list[Score]) -> Score:
    return lambda mol: float(np.mean([t(mol) for t in terms]))


# ---------------------------------------------------------------- the tasks
SITAGLIPTIN = "Fc1cc(c(F)cc1F)CC(N)CC(=O)N3Cc2nnc(n2CC3)C(F)(F)F"
_SITA = Chem.MolFromSmiles(SITAGLIPTIN)
PHARMACOPHORE = "CCCOc1cc2ncnc(Nc3ccc4ncsc4c3)c2cc1S(=O)(=O)C(C)(C)C"
QUINAZOLINE = "[#7]-c1n[c;h1]nc2[c;h1]c(-[#8])[c;h0][c;h1]c12"
TARGETS = {  # the molecule a rediscovery or similarity task is about
    "celecoxib_rediscovery": "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F",
    "troglitazone_rediscovery": "Cc1c(C)c2OC(C)(COc3ccc(CC4SC(=O)NC4=O)cc3)CCc2c(C)c1O",
    "thiothixene_rediscovery": "CN(C)S(=O)(=O)c1ccc2Sc3ccccc3C(=CCCN4CCN(C)CC4)c2c1",
    "albuterol_similarity": "CC(C)(C)NCC(O)c1ccc(O)c(CO)c1",
    "mestranol_similarity": "COc1ccc2[C@H]3CC[C@@]4(C)[C@@H](CC[C@@]4(O)C#C)[C@@H]3CCc2c1",
}
SCORES: dict[str, Score] = {
    "qed": QED.qed,
    **{name: similar(TARGETS[name], "ECFP4") for name in TARGETS if "rediscovery" in name},
    "albuterol_similarity": similar(TARGETS["albuterol_similarity"], "FCFP4", clipped(0.75)),
    "mestranol_similarity": similar(TARGETS["mestranol_similarity"], "AP", clipped(0.75)),
    "isomers_c7h8n2o2": isomer("C7H8N2O2"),
    "isomers_c9h10n2o2pf2cl": isomer("C9H10N2O2PF2Cl"),
    "median1": geometric([similar("CC1(C)C2CCC1(C)C(=O)C2", "ECFP4"),  # camphor, menthol
                          similar("CC(C)C1CCC(C)CC1O", "ECFP4")]),
    "median2": geometric([  # tadalafil, sildenafil
        similar("O=C1N(CC(N2C1CC3=C(C2C4=CC5=C(OCO5)C=C4)NC6=C3C=CC=C6)=O)C", "ECFP6"),
        similar("CCCC1=NN(C2=C1N=C(NC2=O)C3=C(C=CC(=C3)S(=O)(=O)N4CCN(CC4)C)OCC)C", "ECFP6")]),
    "osimertinib_mpo": geometric([
        similar("COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34", "FCFP4",
                clipped(0.8)),
        similar("COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34", "ECFP6",
                at_most(0.85, 0.1)),
        descriptor(rdMolDescriptors.CalcTPSA, at_least(100, 10)),
        descriptor(Crippen.MolLogP, at_most(1, 1))]),
    "fexofenadine_mpo": geometric([
        similar("CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4", "AP",
                clipped(0.8)),
        descriptor(rdMolDescriptors.CalcTPSA, at_least(90, 10)),
        descriptor(Crippen.MolLogP, at_most(4, 1))]),
    "ranolazine_mpo": geometric([
        similar("COc1ccccc1OCC(O)CN2CCN(CC(=O)Nc3c(C)cccc3C)CC2", "AP", clipped(0.7)),
        descriptor(Crippen.MolLogP, at_least(7, 1)),
        descriptor(count("F"), gaussian(1, 1.0)),
        descriptor(rdMolDescriptors.CalcTPSA, at_least(95, 20))]),
    "perindopril_mpo": geometric([
        similar("O=C(OCC)C(NC(C(=O)N1C(C(=O)O)CC2CCCCC12)C)CCC", "ECFP4"),
        descriptor(rdMolDescriptors.CalcNumAromaticRings, gaussian(2, 0.5))]),
    "amlodipine_mpo": geometric([
        similar(r"Clc1ccccc1C2C(=C(/N/C(=C2/C(=O)OCC)COCCN)C)\C(=O)OC", "ECFP4"),
        descriptor(rdMolDescriptors.CalcNumRings, gaussian(3, 0.5))]),
    "sitagliptin_mpo": geometric([
        similar(SITAGLIPTIN, "ECFP4", gaussian(0, 0.1)),
        descriptor(Crippen.MolLogP, gaussian(Crippen.MolLogP(_SITA), 0.2)),
        descriptor(rdMolDescriptors.CalcTPSA, gaussian(rdMolDescriptors.CalcTPSA(_SITA), 5)),
        isomer("C16H15F6N5O")]),
    "zaleplon_mpo": geometric([
        similar("O=C(C)N(CC)C1=CC=CC(C2=CC=NC3=C(C=NN23)C#N)=C1", "ECFP4"),
        isomer("C19H17N3O2")]),
    "valsartan_smarts": geometric([  # valsartan's substructure with sitagliptin's properties
        has("CN(C=O)Cc1ccc(c2ccccc2)cc1"),
        descriptor(Crippen.MolLogP, gaussian(Crippen.MolLogP(_SITA), 0.2)),
        descriptor(rdMolDescriptors.CalcTPSA, gaussian(rdMolDescriptors.CalcTPSA(_SITA), 5)),
        descriptor(Descriptors.BertzCT, gaussian(Descriptors.BertzCT(_SITA), 30))]),
    "deco_hop": arithmetic([  # keep the quinazoline scaffold, change the decorations
        similar(PHARMACOPHORE, "PHCO", clipped(0.85)),
        has("CS([#6])(=O)=O", wanted=False),
        has("[#7]-c1ccc2ncsc2c1", wanted=False),
        has(QUINAZOLINE)]),
    "scaffold_hop": arithmetic([  # keep the decorations, change the scaffold
        similar(PHARMACOPHORE, "PHCO", clipped(0.75)),
        has("[#6]-[#6]-[#6]-[#8]-[#6]~[#6]~[#6]~[#6]~[#6]-[#7]-c1ccc2ncsc2c1"),
        has(QUINAZOLINE, wanted=False)]),
}
TASKS = sorted(SCORES)


def score(task: str, smiles: list[str]) -> list[float]:
    """``task``'s score of each SMILES (0 for one RDKit cannot parse)."""
    RDLogger.DisableLog("rdApp.*")
    function = SCORES[task]
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    return [float(function(m)) if m is not None else 0.0 for m in mols]


def _task(name: str) -> Callable[[list[str]], list[float]]:
    def function(smiles: list[str]) -> list[float]:
        return score(name, smiles)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"PMO's {name} score of each SMILES (a scoring function component)."
    return function


globals().update({name: _task(name) for name in TASKS})  # pmo_tasks:median1 and so on
