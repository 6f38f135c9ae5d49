"""PMO's objectives (plugins/molecules/pmo_tasks.py) on molecules whose scores are known from
GuacaMol's definitions: a rediscovery or similarity target scores 1, an isomer of the formula
scores 1, and the hop, SMARTS and MPO tasks give what their terms add up to."""

import math

import pytest
from rdkit import Chem
from rdkit.Chem import QED
from rdkit.Chem.rdMolDescriptors import CalcMolFormula

from tlgen.plugins.molecules import pmo_tasks as P

VALSARTAN = "CCCCC(=O)N(Cc1ccc(cc1)-c1ccccc1-c1nn[nH]n1)C(C(C)C)C(=O)O"


def one(task: str, smiles: str) -> float:
    return P.score(task, [smiles])[0]


def test_the_twenty_rdkit_tasks_are_there():
    assert len(P.TASKS) == 20 and {"drd2", "gsk3b", "jnk3"}.isdisjoint(P.TASKS)
    assert callable(P.median1) and P.median1.__name__ == "median1"


@pytest.mark.parametrize("task", sorted(P.TARGETS))
def test_the_target_of_a_rediscovery_or_similarity_task_scores_one(task):
    target = P.TARGETS[task]
    assert one(task, target) == pytest.approx(1.0)
    assert one(task, Chem.MolToSmiles(Chem.MolFromSmiles(target))) == pytest.approx(1.0)
    assert one(task, "CCO") < 0.5


@pytest.mark.parametrize("task, smiles", [
    ("isomers_c7h8n2o2", "Cc1ccc(N)cc1[N+](=O)[O-]"),  # 4-methyl-3-nitroaniline
    ("isomers_c7h8n2o2", "Nc1ccc(cc1)C(=O)NO"),
    ("isomers_c9h10n2o2pf2cl", "NC(=O)c1ccc(Cl)cc1CNCP(=O)(F)F"),
])
def test_an_isomer_of_the_formula_scores_one_and_one_atom_off_less(task, smiles):
    formula = {"isomers_c7h8n2o2": "C7H8N2O2", "isomers_c9h10n2o2pf2cl": "C9H10ClF2N2O2P"}
    assert CalcMolFormula(Chem.MolFromSmiles(smiles)) == formula[task]
    assert one(task, smiles) == pytest.approx(1.0)
    # one carbon more: the C term is exp(-1/2) and the total atoms' exp(-9/8 * ...) fall
    assert one(task, "C" + smiles) < 0.95


def test_hops_score_what_their_terms_add_up_to():
    start = P.PHARMACOPHORE  # its own pharmacophore, both decorations, the quinazoline
    assert one("deco_hop", start) == pytest.approx(0.5)  # similarity 1 + scaffold 1, decos 0
    assert one("scaffold_hop", start) == pytest.approx(2 / 3)  # similarity 1 + decoration 1


def test_valsartan_smarts_needs_the_substructure_and_sitagliptins_properties():
    assert one("valsartan_smarts", P.SITAGLIPTIN) == 0.0  # properties right, no substructure
    assert 0.0 < one("valsartan_smarts", VALSARTAN) < 0.1  # substructure, properties far


def test_mpo_tasks_on_their_reference_molecules():
    # sitagliptin itself: its logP, TPSA and formula (1 each), similarity 1 under a Gaussian
    # of mu 0, sigma 0.1 (exp(-50)): the geometric mean of four is exp(-12.5)
    assert one("sitagliptin_mpo", P.SITAGLIPTIN) == pytest.approx(math.exp(-12.5))
    # zaleplon (C17H16N6O) is similar 1 but not the wanted formula C19H17N3O2
    zaleplon = "O=C(C)N(CC)C1=CC=CC(C2=CC=NC3=C(C=NN23)C#N)=C1"
    assert 0.1 < one("zaleplon_mpo", zaleplon) < 1.0
    # perindopril has no aromatic ring (wanted: 2, sigma 0.5): exp(-8) under the root
    perindopril = "O=C(OCC)C(NC(C(=O)N1C(C(=O)O)CC2CCCCC12)C)CCC"
    assert one("perindopril_mpo", perindopril) == pytest.approx(math.exp(-8) ** 0.5)
    # camphor: itself 1, menthol less: the geometric mean is the square root of the latter
    camphor = "CC1(C)C2CCC1(C)C(=O)C2"
    menthol = P.similar("CC(C)C1CCC(C)CC1O", "ECFP4")(Chem.MolFromSmiles(camphor))
    assert one("median1", camphor) == pytest.approx(menthol ** 0.5)


def test_qed_and_unparsable_smiles():
    aspirin = "CC(=O)Oc1ccccc1C(=O)O"
    assert one("qed", aspirin) == pytest.approx(QED.qed(Chem.MolFromSmiles(aspirin)))
    assert P.score("median2", ["C1CC", "not smiles"]) == [0.0, 0.0]
