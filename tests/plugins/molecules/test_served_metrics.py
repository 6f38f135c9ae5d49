"""What serving costs in the molecules plugin: per-molecule scores computed once per distinct
molecule (a bounded cache shared by evaluate and item_metrics), the activity model's
fingerprints, and no sample files written for a served run."""

from __future__ import annotations

import copy

import numpy as np
import pytest


@pytest.fixture(scope="module")
def opened(tmp_path_factory, tiny_prior):
    from tlgen import Run

    run = Run.create("molecules", overrides=[
        f"backbone.path='{tiny_prior}'", "data.max_molecules=120", "evaluate.fcd=false",
        "evaluate.property_model=false", "scoring.components.qed.weight=1"],
        output_dir=tmp_path_factory.mktemp("runs"), device="cpu")
    backbone = run.load_backbone()
    return run, backbone, run.call("prepare_data", backbone=backbone)


def test_scores_are_computed_once_per_molecule_and_the_cache_is_bounded(opened, monkeypatch):
    from tlgen.plugins.molecules.metrics import molecular as M
    from tlgen.plugins.molecules.metrics import stages

    run, backbone, data = opened
    refs = data.extras["evaluation"]
    samples = ["OCC", "CCO", "c1ccccc1O", "C1CC", "CC(=O)O", "CCO"]
    first = run.call("item_metrics", backbone=backbone, data=data, samples=samples, stage="t")
    computed = []
    real = stages._scores
    monkeypatch.setattr(stages, "_scores", lambda mols, *a: computed.append(len(mols)) or
                        real(mols, *a))
    again = run.call("item_metrics", backbone=backbone, data=data, samples=samples, stage="t")
    assert again == first and computed == []  # all four molecules were known
    assert first[0]["canonical"] == first[1]["canonical"] == "CCO"
    # the same numbers as scoring them afresh, for each row
    fresh = real([m for m in M.parse(samples) if m is not None], refs.reference, None)
    valid = [row for row in first if row["valid"]]
    assert [r["QED"] for r in valid] == pytest.approx(list(fresh["QED"]))
    assert [r["max_sim_train"] for r in valid] == pytest.approx(list(fresh["max_sim_train"]))
    run.call("evaluate", backbone=backbone, data=data, samples=[*samples, "CCN"], stage="t")
    assert computed == [1]  # evaluate scored only the molecule item_metrics had not

    monkeypatch.setattr(stages.References, "CACHED", 3)
    more = ["CCCC", "CCCCC", "CCCCCC", "CCCCCCC"]
    rows = run.call("item_metrics", backbone=backbone, data=data, samples=more, stage="t")
    assert len(refs._known) == 3 and list(refs._known) == ["CCCCC", "CCCCCC", "CCCCCCC"]
    assert [r["canonical"] for r in rows] == more and rows[0]["QED"] is not None


def test_qed_logp_and_weight_from_one_descriptor_pass_match_rdkit(corpus):
    from rdkit import Chem
    from rdkit.Chem import QED, Crippen, Descriptors

    from tlgen.plugins.molecules.metrics.molecular import properties

    mols = [Chem.MolFromSmiles(s) for s in [*corpus[:200], "[2H]OC", "C[N+](C)(C)C.[Cl-]"]]
    found = properties(mols)
    assert np.allclose(found["QED"], [QED.qed(m) for m in mols], rtol=0, atol=1e-12)
    assert np.array_equal(found["logP"], [Crippen.MolLogP(m) for m in mols])
    assert np.array_equal(found["MW"], [Descriptors.MolWt(m) for m in mols])


def test_the_activity_model_sees_deepchems_circular_fingerprints(corpus):
    from rdkit import Chem

    from tlgen.plugins.molecules.property_model import PropertyModel
    from tlgen.plugins.molecules.quiet import deepchem

    mols = [Chem.MolFromSmiles(s) for s in corpus[:200]]
    theirs = np.asarray(deepchem().feat.CircularFingerprint(size=2048, radius=2)
                        .featurize(mols), dtype=np.float32)
    assert np.array_equal(PropertyModel()._dataset(corpus[:200]).X, theirs)
    assert theirs.sum() > 0


def test_a_served_run_writes_no_sample_files(opened):
    run, backbone, data = opened
    served = copy.copy(run)
    served.writes_samples = False
    smiles = served.call("sample", backbone=backbone, data=data, n=4, stage="served-t")
    served.call("item_metrics", backbone=backbone, data=data, samples=smiles, stage="served-t")
    assert not (run.dir / "samples" / "served-t").exists()
    run.call("sample", backbone=backbone, data=data, n=4, stage="kept-t")
    run.call("item_metrics", backbone=backbone, data=data, samples=smiles, stage="kept-t")
    assert {p.name for p in (run.dir / "samples" / "kept-t").iterdir()} == {
        "samples.smi", "scores.csv"}
