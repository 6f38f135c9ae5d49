"""Scoring for the reward stage: REINVENT 4's transforms and means, the RDKit components, the
diversity filter, and one clear line for each kind of bad scoring setup."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from tlgen import Run, TlgenError
from tlgen.plugins.molecules import scoring
from tlgen.plugins.molecules.config import MoleculesScoring, Transform
from tlgen.plugins.molecules.reward import best, score_batch, summary

ALBUTEROL = "CC(C)(C)NCC(O)c1ccc(O)c(CO)c1"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def t(**kwargs) -> Transform:
    return Transform(**kwargs)


def test_sigmoids_at_known_points():
    x = np.array([2.0, 3.5, 5.0])
    up = scoring.transform(x, t(type="sigmoid", low=2, high=5, k=0.5))
    # 0.5 at the midpoint; at a bound 1 / (1 + 10^(-/+2.5)) (REINVENT 4: base-10, k x 10 / range)
    assert up == pytest.approx([1 / (1 + 10**2.5), 0.5, 1 / (1 + 10**-2.5)])
    down = scoring.transform(x, t(type="reverse_sigmoid", low=2, high=5, k=0.5))
    assert down == pytest.approx(1 - up)
    steep = scoring.transform(x, t(type="sigmoid", low=2, high=5, k=1.0))
    assert steep[2] > up[2] and steep[0] < up[0]
    hard = scoring.transform(np.array([2.9, 3.1]), t(type="sigmoid", low=3, high=3))
    assert hard.tolist() == [0.0, 1.0]


def test_double_sigmoid_and_steps_at_known_points():
    x = np.array([1.0, 2.0, 3.5, 5.0, 6.0])
    double = scoring.transform(x, t(type="double_sigmoid", low=2, high=5))
    # 0.5 at each bound, ~1 between; slope coef_si / coef_div = 1.5 (base 10)
    outside, centre = 1 / (1 + 10**1.5), 1 / (1 + 10**-2.25)
    assert double == pytest.approx([outside, 0.5, centre, 0.5, outside])
    assert scoring.transform(x, t(type="step", low=2, high=5)).tolist() == [0, 1, 1, 1, 0]
    assert scoring.transform(x, t(type="left_step", low=2)).tolist() == [1, 1, 0, 0, 0]
    assert scoring.transform(x, t(type="right_step", high=5)).tolist() == [0, 0, 0, 1, 1]
    assert scoring.transform(x, None).tolist() == x.tolist()


def test_weighted_means():
    scores = [np.array([0.2, 1.0]), np.array([0.8, 0.0])]
    assert scoring.aggregate(scores, [1, 3], "arithmetic") == pytest.approx([0.65, 0.25])
    geometric = scoring.aggregate(scores, [1, 3], "geometric")
    assert geometric[0] == pytest.approx(0.2**0.25 * 0.8**0.75)
    assert geometric[1] == pytest.approx(1e-8**0.75)  # a zero floors at 1e-8, as REINVENT 4


def scorer(aggregation="geometric", **components):
    cfg = MoleculesScoring(components=components, aggregation=aggregation)
    return scoring.build(cfg, property_model=lambda: None, series=["CCO"])


def mols(*smiles):
    from rdkit import Chem

    return [Chem.MolFromSmiles(s) for s in smiles], list(smiles)


def test_components_use_rdkit_and_fcfp4_counts_match_guacamol():
    from rdkit.Chem import QED, Descriptors

    s = scorer(qed={}, mw={"transform": {"type": "step", "low": 0, "high": 1000}},
               albuterol={"type": "similarity", "smiles": [ALBUTEROL], "features": True,
                          "counts": True})
    total, done, raw = s(*mols(ASPIRIN, "CC(C)NCC(O)c1ccc(O)c(CO)c1"))
    assert raw[0, 0] == pytest.approx(QED.qed(mols(ASPIRIN)[0][0]))
    assert raw[1, 0] == pytest.approx(Descriptors.MolWt(mols(ASPIRIN)[0][0]))
    assert done[1].tolist() == [1.0, 1.0]
    # GuacaMol's FCFP4 (AllChem.GetMorganFingerprint(mol, 2, useFeatures=True)): 5/6 here
    assert raw[2, 1] == pytest.approx(5 / 6)
    assert total == pytest.approx(np.prod(done, axis=0) ** (1 / 3))


def test_series_similarity_compares_with_the_training_series():
    cfg = MoleculesScoring(components={"near": {"type": "series_similarity"}})
    s = scoring.build(cfg, property_model=lambda: None, series=["CCO", ASPIRIN])
    _, _, raw = s(*mols(ASPIRIN, "CCO", "c1ccncc1"))
    assert raw[0, :2].tolist() == [1.0, 1.0] and raw[0, 2] < 0.3


def test_alerts_filter_and_substructure_match():
    s = scorer(aggregation="arithmetic", qed={},
               nitro={"type": "alerts", "smarts": ["[N+](=O)[O-]"]},
               acid={"type": "substructure", "smarts": ["C(=O)[OH]"]})
    total, done, _ = s(*mols(ASPIRIN, "O=[N+]([O-])c1ccccc1C(=O)O", "c1ccccc1"))
    assert done[1].tolist() == [1, 0, 1] and done[2].tolist() == [1, 1, 0]
    assert total[1] == 0  # the alert is a filter: it multiplies the mean
    assert total[0] == pytest.approx((done[0, 0] + 1) / 2)
    assert total[2] == pytest.approx(done[0, 2] / 2)


def test_pains_and_brenk_score_one_when_clean():
    s = scorer(qed={}, pains={}, brenk={})
    _, done, _ = s(*mols("CCO", "O=C1C(=Cc2ccccc2)SC(=S)N1"))  # a rhodanine: PAINS and Brenk
    assert done[1].tolist() == [1, 0] and done[2].tolist() == [1, 0]


def batch_run(**scoring_cfg):
    """A stand-in for a run: the scoring config and a run.state."""
    cfg = MoleculesScoring(components={"qed": {}}, **scoring_cfg)
    return SimpleNamespace(config=SimpleNamespace(scoring=cfg), state={}), scoring.build(
        cfg, property_model=lambda: None, series=[])


def test_the_diversity_filter_zeroes_repeats_and_full_buckets():
    run, s = batch_run(bucket_size=2, min_score=0.0)
    first = score_batch(run, s, ["Cc1ccccc1", "CCc1ccccc1", "c1ccccc1C", "xx"])
    assert first.valid == [True, True, True, False]
    assert first.scores[0] > 0 and first.scores[1] > 0
    assert first.scores[2:] == [0.0, 0.0]  # the same molecule again, in another notation
    assert first.calls == 2
    second = score_batch(run, s, ["CCCc1ccccc1", "CCc1ccccc1", "CCO"])
    assert second.scores[0] == 0.0  # a third benzene: its bucket of 2 is full
    assert second.scores[1] == 0.0  # seen in an earlier batch
    assert second.scores[2] > 0 and second.calls == 2
    assert set(second.components) == {"qed", "before filter"}
    assert second.components["qed"][1] > 0  # the molecule's values, though it scores 0 now
    assert second.components["before filter"][:2] == [run.state["reward"]["molecules"][k][0]
                                                      for k in ("CCCc1ccccc1", "CCc1ccccc1")]
    assert [smiles for smiles, *_ in best(run, 2)] == sorted(
        ["CCCc1ccccc1", "CCc1ccccc1", "Cc1ccccc1", "CCO"],
        key=lambda k: -run.state["reward"]["molecules"][k][0])[:2]
    counts = summary(run)
    assert counts["molecules scored (unique, valid)"] == 4
    assert counts["unique Murcko scaffolds"] == 2  # benzene, and "" for ethanol


def test_below_min_score_fills_no_bucket_and_without_the_filter_repeats_keep_their_score():
    run, s = batch_run(bucket_size=1, min_score=0.99)
    scores = score_batch(run, s, ["Cc1ccccc1", "CCc1ccccc1"]).scores
    assert min(scores) > 0  # QED < 0.99: no bucket counts them
    run, s = batch_run(diversity_filter="none")
    first = score_batch(run, s, ["Cc1ccccc1", "Cc1ccccc1"])
    assert first.scores[1] == 0.0  # a second copy in one batch still scores 0 (REINVENT)
    again = score_batch(run, s, ["Cc1ccccc1"])
    assert again.scores == [first.scores[0]] and again.calls == 0
    assert set(again.components) == {"qed"}


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("overrides, message", [
    (["scoring.components.qde.weight=1"],
     r"key 'scoring.components.qde': unknown scoring component 'qde' \(did you mean 'qed'\?\)"),
    (["scoring.components.sim.type='similarity'"],
     r"component type 'similarity' needs its reference molecules: smiles = "),
    (["scoring.components.nitro.type='alerts'", "scoring.components.nitro.smarts=['[N+](=O']"],
     r"SMARTS '\[N\+\]\(=O' is not a valid pattern"),
    (["scoring.components.qed.weight=0", "scoring.components.pains.weight=1"],
     r"every scoring component has weight 0 \(or is a filter\): nothing to maximise"),
    (["scoring.components.sa.weight=1"], r"component type 'sa' needs a transform onto \[0, 1\]"),
    (["scoring.components.qed.radius=3"], r"component type 'qed' takes no radius"),
    (["scoring.components.qed.wieght=3"], r"unknown key 'wieght' \(did you mean 'weight'\?\)"),
    (["scoring.components.sa.transform={type='sigmoid', low=5}"], r"transform sigmoid needs high"),
])
def test_bad_scoring_config_is_one_line(tmp_path, overrides, message):
    with pytest.raises(TlgenError, match=message) as caught:
        Run.create("molecules", overrides=overrides, output_dir=tmp_path)
    assert "\n" not in str(caught.value)


USER_MODULE = '''
import math

def length(smiles):
    return [min(len(s) / 50, 1.0) for s in smiles]

def raises(smiles):
    for s in smiles:
        if "N" in s:
            raise ValueError("no nitrogen, please")
    return [0.5] * len(smiles)

def short(smiles):
    return [0.5]

def nan(smiles):
    return [math.nan if "O" in s else 0.5 for s in smiles]

def words(smiles):
    return ["high"] * len(smiles)
'''


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "my_scores.py"
    path.write_text(USER_MODULE)
    return path


def function_scorer(spec, probe=("CCO",)):
    cfg = MoleculesScoring(components={"mine": {"type": "function", "function": spec}})
    return scoring.build(cfg, property_model=lambda: None, series=list(probe))


def test_a_user_function_scores_canonical_smiles(user_file):
    s = function_scorer(f"{user_file}:length")
    total, done, raw = s(*mols("CCO", "c1ccccc1"))
    assert raw[0].tolist() == pytest.approx([3 / 50, 8 / 50]) and total.tolist() == raw[0].tolist()


@pytest.mark.parametrize("name, probe, message", [
    ("raises", ["CCO", "CCN"], r"my_scores.py:raises raised ValueError: no nitrogen, please "
                               r"\(on SMILES 'CCN'\)"),
    ("short", ["CCO", "CCC"], r"returned 1 values of shape \(1,\) for 2 SMILES; it must return "
                              r"one number per SMILES"),
    ("nan", ["CCC", "CCO"], r"returned nan for SMILES 'CCO'; scores must be finite numbers"),
    ("words", ["CCO"], r"returned list .*it must return a list of numbers"),
    ("nothere", ["CCO"], r"has no function 'nothere'"),
    ("lenght", ["CCO"], r"has no function 'lenght' \(did you mean 'length'\?\)"),
])
def test_a_broken_user_function_is_one_line(user_file, name, probe, message):
    with pytest.raises(TlgenError, match=message) as caught:
        function_scorer(f"{user_file}:{name}", probe)
    assert "\n" not in str(caught.value) and "'mine'" in str(caught.value)


def test_a_user_function_out_of_range_needs_a_transform(user_file, tmp_path):
    (tmp_path / "big.py").write_text("def big(smiles):\n    return [7.0] * len(smiles)\n")
    with pytest.raises(TlgenError, match=r"'mine' gave 7 for SMILES 'CCO', outside \[0, 1\]"):
        function_scorer(f"{tmp_path / 'big.py'}:big")(*mols("CCO"))
    with pytest.raises(TlgenError, match=r"cannot import no_such_module \(ModuleNotFoundError"):
        function_scorer("no_such_module:f")
    with pytest.raises(TlgenError, match=r"file .*missing.py does not exist"):
        function_scorer(f"{tmp_path / 'missing.py'}:f")


def test_a_reward_run_without_components_says_what_to_add():
    with pytest.raises(TlgenError, match=r"needs scoring components: add \[scoring.components"):
        scoring.build(MoleculesScoring(), property_model=lambda: None, series=[])


def test_the_cli_prints_a_scoring_typo_as_one_line(tmp_path):
    from tlgen.cli import main

    result = CliRunner().invoke(main, [
        "run", "--plugin", "molecules", "-o", str(tmp_path), "--set", "train.mode=reward",
        "--set", "scoring.components.qde.weight=1"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "did you mean 'qed'?" in lines[0]
    assert not any(tmp_path.iterdir())


def test_stable_sigmoid_does_not_overflow():
    values = scoring.stable_sigmoid(np.array([-1e6, 0.0, 1e6]), 1.0)
    assert values.tolist() == [0.0, 0.5, 1.0] and not any(math.isnan(v) for v in values)
