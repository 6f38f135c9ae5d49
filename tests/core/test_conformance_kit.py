"""The conformance kit passes for the test plugin and catches broken plugins."""

import pytest

from tlgen.testing import PluginConformance, check_hooks

from .conftest import CHARLM


class TestCharLMConforms(PluginConformance):
    plugin = CHARLM


def test_kit_rejects_an_argument_the_spec_does_not_have(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from tlgen import hookimpl\n\n@hookimpl\ndef sample(run, backbone, count):\n"
                   "    return []\n")
    with pytest.raises(AssertionError, match=r"hook 'sample': unknown argument\(s\) \['count'\]"):
        check_hooks(str(bad))


def test_kit_rejects_missing_required_hooks(tmp_path):
    bad = tmp_path / "partial.py"
    bad.write_text("from tlgen import hookimpl\n\n@hookimpl\ndef load_backbone(run, path):\n"
                   "    return None\n")
    with pytest.raises(AssertionError, match="does not implement required hook"):
        check_hooks(str(bad))
