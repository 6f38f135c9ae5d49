"""Report sections as data, from the per-molecule rows of item_metrics and the data notes."""

import pandas as pd
import pytest

from tlgen.report import check_section
from tlgen.plugins.molecules.report import sections

SMILES = ["CC(=O)Oc1ccccc1C(=O)O", "c1ccc(Oc2ccccc2)cc1", "CCN(CC)CC", "c1ccc2[nH]ccc2c1"]
NOTES = ["set.smi: skipped 2 invalid molecules (lines 2, 5)"]


def scores(shift: float, novel: bool = True) -> dict:
    return {"smiles": SMILES, "QED": [0.5 + shift, 0.6, 0.4, 0.7], "SA": [2, 1.5, 1.8, 1.4],
            "logP": [1.3, 3.1, 1.0, 2.1], "MW": [180.2, 170.2, 101.2, 117.2],
            "max_sim_train": [0.5, 1.0 if not novel else 0.4, 0.3, 0.2],
            "predicted": [6.0 + shift, 5.0, 7.5, 5.5]}


def test_histograms_grid_and_data_notes(tmp_path):
    found = sections(tmp_path, {stage: scores(shift, novel=stage != "after") for stage, shift
                                in (("series", 0.0), ("before", 0.1), ("after", 0.2))}, NOTES)
    assert [check_section(s, "molecules")["title"].split()[0] for s in found] == \
        ["Properties", "Top", "Data"]
    assert found[0]["image"] == tmp_path / "figures" / "properties.png"
    assert (tmp_path / "figures" / "properties.png").stat().st_size > 10_000
    assert (tmp_path / "figures" / "top_samples.png").stat().st_size > 10_000
    assert found[2]["items"] == NOTES
    assert not any("html" in s for s in found)


def test_top_samples_are_novel_and_ranked_by_predicted_activity(tmp_path):
    from tlgen.plugins.molecules.report import grid, top_novel

    table = pd.DataFrame(scores(0.0))
    table.loc[2, "max_sim_train"] = 1.0  # the best-predicted molecule is a training molecule
    top, key = top_novel(table, count=2)
    assert key == "predicted" and list(top["smiles"]) == [SMILES[0], SMILES[3]]
    top, key = top_novel(table.assign(predicted=float("nan")), count=1)
    assert key == "QED" and list(top["smiles"]) == [SMILES[3]]
    assert grid(table[table["max_sim_train"] == 1], tmp_path / "none.png") is None


def test_no_scores_no_notes_no_sections(tmp_path):
    assert sections(tmp_path, {}, []) == []


def test_a_reward_run_reports_its_best_molecules_and_scaffolds(tmp_path):
    from collections import Counter
    from types import SimpleNamespace

    from tlgen.plugins.molecules.config import MoleculesScoring
    from tlgen.plugins.molecules.report import reward_sections

    scored = {SMILES[0]: (0.9, (0.9,), (0.55,), "c1ccccc1"),
              SMILES[1]: (0.7, (0.7,), (0.6,), "c1ccc(Oc2ccccc2)cc1"),
              SMILES[2]: (0.2, (0.2,), (0.4,), "")}
    run = SimpleNamespace(dir=tmp_path, state={"reward": {"molecules": scored,
                                                          "buckets": Counter()}},
                          config=SimpleNamespace(scoring=MoleculesScoring(
                              components={"qed": {}}, min_score=0.5)))
    grid, table, counts = [check_section(s, "molecules")
                           for s in reward_sections(run, known={SMILES[1]})]
    assert grid["image"].stat().st_size > 10_000
    assert table["table"]["rows"] == [[SMILES[0], "", 0.9, 0.55], [SMILES[1], "yes", 0.7, 0.6],
                                      [SMILES[2], "", 0.2, 0.4]]
    assert dict(counts["table"]["rows"]) == {
        "molecules scored (unique, valid)": 3, "unique Murcko scaffolds": 3,
        "molecules scoring >= 0.5": 2, "their unique scaffolds": 2, "best score": 0.9,
        "mean of the top 10": pytest.approx(0.6)}
    run.state["reward"]["molecules"] = {}
    assert reward_sections(run, known=set()) == []


def test_item_metrics_give_one_row_per_sample_and_the_report_its_unique_valid_ones(
        tmp_path, tiny_prior):
    """Through a real run: every sample keeps its row (invalid ones with None scores), the
    row says whether the molecule is a training one, carries the [scoring] components, and
    the report's table keeps one row per valid molecule."""
    from tlgen import Run
    from tlgen.plugins.molecules.report import stage_table

    run = Run.create("molecules", overrides=[
        f"backbone.path='{tiny_prior}'", "data.max_molecules=120", "evaluate.fcd=false",
        "evaluate.property_model=false", "scoring.components.qed.weight=1"],
        output_dir=tmp_path, device="cpu")
    backbone = run.load_backbone()
    data = run.call("prepare_data", backbone=backbone)
    written = set(data.extras)  # prepare_data writes extras; no later hook adds to them
    assert written == {"molecules", "notes", "evaluation", "scorer"}
    known = data.extras["molecules"]["train"].smiles[0]
    samples = ["OCC", "C1CC", known, "CCO"]
    rows = run.call("item_metrics", backbone=backbone, data=data, samples=samples, stage="t")
    assert [r["smiles"] for r in rows] == samples
    assert [r["valid"] for r in rows] == [True, False, True, True]
    assert rows[0]["canonical"] == rows[3]["canonical"] == "CCO"
    assert [r["in_training_set"] for r in rows] == [False, None, True, False]
    assert rows[1]["QED"] is None and rows[0]["QED"] == pytest.approx(0.4068, abs=1e-3)
    assert rows[2]["max_sim_train"] == pytest.approx(1.0)
    assert rows[0]["raw.qed"] == rows[0]["QED"] and 0 < rows[0]["score"] <= 1
    assert "predicted" not in rows[0]
    table = stage_table(rows)
    assert list(table["smiles"]) == ["CCO", rows[2]["canonical"]]
    assert (run.samples_dir("t") / "scores.csv").read_text().count("\n") == 5
    run.call("evaluate", backbone=backbone, data=data, samples=samples, stage="t")
    assert set(data.extras) == written
