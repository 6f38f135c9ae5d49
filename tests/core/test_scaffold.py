"""`tlgen new-plugin`: the skeleton it writes passes the conformance kit; bad names are refused."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest

from tlgen import TlgenError
from tlgen.scaffold import new_plugin
from tlgen.testing import PluginConformance, check_hooks, check_resume, run_tiny

ROLES = ("plugin", "config", "backbone", "data", "sampling", "metrics", "report")


@pytest.fixture(scope="module")
def skeleton(tmp_path_factory):
    return new_plugin("poems", tmp_path_factory.mktemp("dest"))


@pytest.fixture
def importable(skeleton, monkeypatch):
    """The skeleton's package importable, as ``pip install -e .`` makes it."""
    monkeypatch.syspath_prepend(str(skeleton))
    return skeleton


def _generated_test_class(skeleton) -> type:
    path = skeleton / "tests" / "test_conformance.py"
    spec = importlib.util.spec_from_file_location("generated_conformance", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TestPlugin


def test_skeleton_is_a_package_with_an_entry_point(skeleton):
    assert skeleton.name == "tlgen-poems"
    project = tomllib.loads((skeleton / "pyproject.toml").read_text())
    assert project["project"]["name"] == "tlgen-poems"
    assert project["project"]["entry-points"]["tlgen"] == {"poems": "tlgen_poems.plugin"}
    for rel in ("README.md", "tlgen_poems/__init__.py", "tlgen_poems/data/corpus.txt",
                *(f"tlgen_poems/{role}.py" for role in ROLES)):
        assert (skeleton / rel).is_file(), rel
    written = [p for p in skeleton.rglob("*") if p.is_file()]
    assert not [p for p in written if p.suffix == ".tmpl" or "$" in p.read_text()]
    test_class = _generated_test_class(skeleton)
    assert issubclass(test_class, PluginConformance) and test_class.plugin == "tlgen_poems.plugin"


def test_skeleton_passes_the_conformance_kit(importable, tmp_path):
    skeleton = importable
    plugin = str(skeleton / "tlgen_poems" / "plugin.py")
    overrides = _generated_test_class(skeleton).overrides
    hooks = set(check_hooks(plugin))
    assert {"load_backbone", "prepare_data", "sample", "evaluate", "report"} <= hooks
    summary = run_tiny(plugin, tmp_path / "tiny", overrides)
    before, after = summary["metrics"]["before"], summary["metrics"]["after"]
    assert after["val_loss"] < before["val_loss"]  # tlgen's held-out loss; none of its own
    assert not {"val_nll", "nll"} & set(after)
    report = (Path(summary["run_dir"]) / "report.html").read_text()
    assert "<th>known words</th>" in report and "<td>before</td>" in report
    assert '<td class="num">' in report.split("<th>known words</th>")[1]  # the rows of item_metrics
    check_resume(plugin, tmp_path / "resume", overrides)


@pytest.mark.parametrize("name", ["Poems", "my-plugin", "1st", "_x", "", "a b", "poèmes"])
def test_bad_names_are_refused(name, tmp_path):
    with pytest.raises(TlgenError, match="lower-case Python identifier"):
        new_plugin(name, tmp_path)
    assert not list(tmp_path.iterdir())


def test_an_existing_folder_is_not_overwritten(skeleton):
    with pytest.raises(TlgenError, match="already exists"):
        new_plugin("poems", skeleton.parent)


def test_the_name_of_an_installed_plugin_is_refused(tmp_path):
    with pytest.raises(TlgenError, match="taken by an installed plugin"):
        new_plugin("molecules", tmp_path)
