"""The example plugin package examples/tlgen-abc passes the conformance kit, uninstalled."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tlgen.testing import check_hooks, run_tiny

PACKAGE = Path(__file__).parents[2] / "examples" / "tlgen-abc"
PLUGIN = str(PACKAGE / "tlgen_abc" / "plugin.py")
TINY = ["backbone.n_layer=1", "backbone.n_embd=16", "backbone.n_head=2", "train.batch_size=4",
        "sample.n=2", "sample.max_chars=60"]


@pytest.fixture(autouse=True)
def working_tree_package(monkeypatch):
    """``tlgen_abc`` from this checkout, even where an installed copy was imported before."""
    monkeypatch.syspath_prepend(str(PACKAGE))
    for name in [m for m in sys.modules if m == "tlgen_abc" or m.startswith("tlgen_abc.")]:
        monkeypatch.delitem(sys.modules, name)


def test_abc_plugin_implements_the_hooks():
    hooks = set(check_hooks(PLUGIN))
    assert {"load_backbone", "prepare_data", "sample", "evaluate", "report"} <= hooks
    assert Path(sys.modules["tlgen_abc"].__file__).is_relative_to(PACKAGE)


@pytest.mark.slow
def test_abc_plugin_tiny_run(tmp_path):
    summary = run_tiny(PLUGIN, tmp_path, TINY)
    before, after = summary["metrics"]["before"], summary["metrics"]["after"]
    assert {"header_ok", "bars_consistent", "key_overlap", "distinct_4", "copy_rate"} <= set(after)
    assert "val_nll" not in after  # the held-out loss is core's val_loss now
    assert after["val_loss"] < before["val_loss"]
    report = (Path(summary["run_dir"]) / "report.html").read_text()
    assert "Generated tunes (header and bar checks)" in report and "<td>after</td>" in report
    assert "<th>training</th>" in report
    assert (Path(summary["run_dir"]) / "samples" / "after" / "tunes.abc").is_file()
