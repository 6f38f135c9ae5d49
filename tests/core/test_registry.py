import sys
import types
import warnings
from importlib.metadata import EntryPoint

import pytest

from tlgen import TlgenError, hookimpl
from tlgen.registry import plugin_manager

from .conftest import CHARLM, hooks_plugin


def test_unknown_plugin_lists_installed(monkeypatch):
    pm = plugin_manager()
    with pytest.raises(TlgenError, match=r"unknown plugin 'nope'; installed: "):
        pm.resolve("nope")


def test_local_file_plugin_becomes_a_domain():
    pm = plugin_manager()
    name = pm.resolve(CHARLM)
    assert name == "charlm_plugin" and name in pm.domains()


def test_plugin_that_fails_to_import_is_named_and_others_work(monkeypatch):
    broken = EntryPoint("broken", "tlgen_no_such_module.plugin", "tlgen")
    import tlgen.registry as registry

    real = registry.entry_points
    monkeypatch.setattr(registry, "entry_points", lambda group: [*real(group=group), broken])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = plugin_manager()
    assert any("'broken' failed to load" in str(w.message) for w in caught)
    assert "broken" in pm.failures
    assert pm.resolve(CHARLM) == "charlm_plugin"
    rows = {r["name"]: r for r in pm.describe()}
    assert rows["broken"]["kind"] == "FAILED"


def test_other_domains_are_left_out_but_extensions_see_broadcast_hooks():
    calls = []
    other = types.ModuleType("other_domain")
    other.load_backbone = hookimpl(lambda run, path: calls.append("other") or "other")
    other.layer_map = hookimpl(lambda backbone: calls.append("other-map"))
    extension = hooks_plugin(on_step=lambda step: calls.append(step))
    pm = plugin_manager([other, extension])
    name = pm.resolve(CHARLM)
    hooks = pm.domain_hooks(name)
    assert "other" not in [impl.plugin_name for impl in hooks.load_backbone.get_hookimpls()]
    hooks.on_step(run=None, step=3, logs={})
    assert calls == [3]
    sys.modules.pop("other_domain", None)
