import json

from click.testing import CliRunner

from tlgen.cli import main

from .conftest import CHARLM


def test_compare_writes_one_report_for_all_variants(tmp_path):
    result = CliRunner().invoke(main, [
        "compare", "--plugin", CHARLM, "-o", str(tmp_path), "--device", "cpu",
        "--variant", "full", "--variant", "freeze-first:1", "--variant", "scratch",
        "--set", "train.max_steps=4"])
    assert result.exit_code == 0, result.output
    folder = next(tmp_path.glob("*-compare-charlm_plugin"))
    results = json.loads((folder / "comparison.json").read_text())
    assert list(results) == ["pretrained, no fine-tuning", "full", "freeze-first:1", "scratch"]
    assert results["freeze-first:1"]["train"]["trainable_params"] < \
        results["full"]["train"]["trainable_params"]
    page = (folder / "comparison.html").read_text()
    assert "val_loss" in page and "trainable_params" in page and (folder / "curves.png").exists()
