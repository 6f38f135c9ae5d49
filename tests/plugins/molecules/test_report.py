"""Report sections from the per-molecule score tables that evaluate writes."""

from types import SimpleNamespace

import pandas as pd

from tlgen.plugins.molecules.reporting import sections

SMILES = ["CC(=O)Oc1ccccc1C(=O)O", "c1ccc(Oc2ccccc2)cc1", "CCN(CC)CC", "c1ccc2[nH]ccc2c1"]


def scores(shift: float, novel: bool = True) -> pd.DataFrame:
    return pd.DataFrame({"smiles": SMILES, "QED": [0.5 + shift, 0.6, 0.4, 0.7], "SA": [2, 1.5, 1.8, 1.4],
                         "logP": [1.3, 3.1, 1.0, 2.1], "MW": [180.2, 170.2, 101.2, 117.2],
                         "max_sim_train": [0.5, 1.0 if not novel else 0.4, 0.3, 0.2],
                         "predicted": [6.0 + shift, 5.0, 7.5, 5.5]})


def test_histograms_grid_and_data_notes(tmp_path):
    (tmp_path / "samples").mkdir()
    for stage, shift in (("series", 0.0), ("before", 0.1), ("after", 0.2)):
        scores(shift, novel=stage != "after").to_csv(tmp_path / "samples" / f"{stage}_scores.csv")
    (tmp_path / "data_notes.txt").write_text("set.smi: skipped 2 invalid molecules (lines 2, 5)\n")
    found = sections(SimpleNamespace(dir=tmp_path), {"before": {}, "after": {}})
    titles = [s["title"] for s in found]
    assert titles[0].startswith("Properties") and titles[1].startswith("Top fine-tuned")
    assert (tmp_path / "properties.png").stat().st_size > 10_000
    assert (tmp_path / "top_samples.png").stat().st_size > 10_000
    assert "lines 2, 5" in found[2]["html"]


def test_no_scores_no_sections(tmp_path):
    assert sections(SimpleNamespace(dir=tmp_path), {}) == []
