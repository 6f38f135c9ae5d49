"""Metric values on molecules whose answers are known."""

import numpy as np
import pytest

from tlgen.plugins.molecules.metrics import molecular as M
from tlgen.plugins.molecules.property_model import PropertyModel

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
SERIES = ["c1ccc(Oc2ccccc2)cc1", "Cc1ccc(Oc2ccccc2)cc1", "Clc1ccc(Oc2ccccc2)cc1",
          "c1ccc(-c2ccccn2)cc1", "Cc1ccc(-c2ccccn2)cc1"]


@pytest.fixture(scope="module")
def reference():
    return M.Reference.build(train=SERIES[:3], test=SERIES[3:], fcd=False, train_limit=100)


def test_validity_uniqueness_novelty(reference):
    samples = ["CCO", "OCC", "C1CC", "", "c1ccc(Oc2ccccc2)cc1", "c1ccccc1"]
    out, mols, fps = M.set_metrics(samples, reference)
    assert out["valid"] == pytest.approx(4 / 6)
    assert out["unique"] == pytest.approx(3 / 4)  # CCO and OCC are one molecule
    assert out["novelty"] == pytest.approx(2 / 3)  # the diphenyl ether is in the training set
    assert len(mols) == 4 and fps.shape == (4, 1024)
    assert "unique@1k" not in out


def test_properties_of_aspirin():
    props = M.properties(M.parse([ASPIRIN]))
    assert props["QED"][0] == pytest.approx(0.550, abs=0.005)
    assert props["SA"][0] == pytest.approx(1.58, abs=0.05)
    assert props["MW"][0] == pytest.approx(180.16, abs=0.01)
    assert props["logP"][0] == pytest.approx(1.31, abs=0.01)


def test_similarity_and_diversity():
    fps = M.fingerprints(M.parse(SERIES))
    assert np.allclose(M.max_similarity(fps, fps), 1)
    assert M.internal_diversity(fps[:1].repeat(5, 0)) == pytest.approx(0)
    pair = fps[:2]
    similarity = M.tanimoto(pair[:1], pair[1:])[0, 0]
    assert 0 < similarity < 1
    assert M.internal_diversity(pair) == pytest.approx((1 - similarity) / 2)  # MOSES counts i == j
    assert M.internal_diversity(fps, 2) <= M.internal_diversity(fps, 1)


def test_alerts_and_filters():
    azo = M.parse(["c1ccc(cc1)N=Nc1ccc(N(C)C)cc1"])[0]
    assert M.alert(azo, "PAINS") and not M.passes_moses_filters(azo)
    aspirin = M.parse([ASPIRIN])[0]
    assert not M.alert(aspirin, "PAINS") and M.passes_moses_filters(aspirin)
    assert not M.passes_moses_filters(M.parse(["CC[N+](C)(C)C"])[0])  # charged


def test_fragments_scaffolds_and_recovery(reference):
    mols = M.parse(SERIES[3:])
    assert M.cosine(M.fragments(mols), M.fragments(mols)) == pytest.approx(1)
    assert M.scaffolds(M.parse(["CCO", "c1ccccc1C"])) == {}  # fewer than two rings
    assert M.scaffold_recovery(mols, reference) == pytest.approx(1)
    assert M.scaffold_recovery(M.parse(SERIES[:1]), reference) == 0


def test_fcd_of_a_set_with_itself_is_near_zero():
    ref = M.Reference.build(train=SERIES, test=SERIES * 4, fcd=True, train_limit=10)
    out, _, _ = M.set_metrics(SERIES * 4, ref)
    assert out["FCD/Test"] == pytest.approx(0, abs=1e-3)


def test_property_model_learns_logp_from_fingerprints():
    from rdkit.Chem import Crippen

    from tlgen.plugins.molecules.data.molecules import moses_smiles

    smiles = moses_smiles("test", 300)
    values = [Crippen.MolLogP(m) for m in M.parse(smiles)]
    model = PropertyModel(trees=50).fit(smiles[:250], values[:250])
    assert model.r2(smiles[:250], values[:250]) > 0.8
    assert model.r2(smiles[250:], values[250:]) > 0.2
    assert model.predict(M.parse(smiles[250:252])).shape == (2,)
