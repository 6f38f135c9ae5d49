"""A plugin that breaks the hook contract gets an error naming the plugin, the hook and
what was expected."""

import pytest

from tlgen import TlgenError, hookimpl
from tlgen.errors import PluginError

from .conftest import hooks_plugin


def test_wrong_return_type_names_hook_and_expectation(make_run):
    wrong = hookimpl(tryfirst=True)(lambda: ["not", "a", "dict"])
    run = make_run(extra=[hooks_plugin(evaluate=wrong)])
    with pytest.raises(PluginError, match=r"hook 'evaluate' returned list, expected dict"):
        run.execute()


def test_exception_in_a_hook_names_the_plugin_that_raised(make_run):
    def broken_report():
        raise ValueError("bad figure")

    run = make_run(extra=[hooks_plugin(report=broken_report)])
    with pytest.raises(PluginError, match=r"plugin 'TestPlugin.*', hook 'report' raised "
                                          r"ValueError: bad figure") as info:
        run.execute()
    assert isinstance(info.value.__cause__, ValueError)


def test_missing_required_hook(tmp_path):
    from tlgen import Run

    plugin = tmp_path / "halfdone.py"
    plugin.write_text("from tlgen import hookimpl\n\n"
                      "@hookimpl\ndef load_backbone(run, path):\n"
                      "    from tlgen import Backbone\n    import torch\n"
                      "    return Backbone(model=torch.nn.Linear(2, 2))\n")
    run = Run.create(str(plugin), output_dir=tmp_path / "runs", device="cpu")
    with pytest.raises(PluginError, match=r"plugin 'halfdone' does not implement hook "
                                          r"'prepare_data' \(expected it to return DataSplits\)"):
        run.execute()


def test_user_errors_from_plugins_pass_through_unchanged(make_run):
    def refuse():
        raise TlgenError("data.path: no such folder")

    run = make_run(extra=[hooks_plugin(evaluate=hookimpl(tryfirst=True)(refuse))])
    with pytest.raises(TlgenError, match="^data.path: no such folder$"):
        run.execute()
