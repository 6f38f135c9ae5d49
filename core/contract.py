"""The hook contract, checked on every hook call of a run: what each hook must return, and
one line naming the plugin and the hook when a plugin breaks it (a missing hook, a wrong
return type, an exception in plugin code). Every caller goes through ``Contract.call``:
the pipeline, both training loops (``loss``, the broadcast ``on_step``/``on_evaluate``),
and the commands that sample, evaluate, export or serve a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import PluginError, StopTraining, TlgenError
from .registry import PluginManager
from .types import Backbone, DataSplits, LayerMap, Rewards, TrainResult

# What each hook must return (None: anything); "tensor" is checked without importing torch.
EXPECTED: dict[str, tuple[type, ...] | str | None] = {
    "load_backbone": (Backbone,), "prepare_data": (DataSplits,), "layer_map": (LayerMap,),
    "freeze": (Backbone,), "train": (TrainResult,), "sample": (list,), "evaluate": (dict,),
    "report": (list,), "export": (str, Path), "decode": (list,), "reward": (Rewards,),
    "item_metrics": (list,), "sample_ids": (list,), "loss": "tensor",
    "on_step": None, "on_evaluate": None, "on_run_end": None,
}
# Hooks a domain may leave out: their call answers None instead of an error.
OPTIONAL = ("item_metrics",)
# Broadcast hooks: every registered plugin's implementation runs; results are ignored.
BROADCAST = ("report", "on_step", "on_evaluate", "on_run_end")


class Contract:
    """The checked hook calls of one run's domain plugin (plus the broadcast plugins)."""

    def __init__(self, pm: PluginManager, plugin: str) -> None:
        self.pm = pm
        self.plugin = plugin
        self.hooks = pm.domain_hooks(plugin)

    def call(self, hook: str, **kwargs: Any) -> Any:
        caller = getattr(self.hooks, hook)
        try:
            result = caller(**kwargs)
        except (TlgenError, StopTraining):
            raise
        except Exception as exc:
            culprit = self.culprit(caller, exc) or self.plugin
            first = str(exc).splitlines()[0][:300] if str(exc) else ""
            raise PluginError(f"plugin {culprit!r}, hook {hook!r} raised "
                              f"{type(exc).__name__}: {first}") from exc
        expected = EXPECTED.get(hook)
        if hook == "report":
            result = [section for found in result for section in (found or [])]
        if expected is None:
            return result
        if result is None and hook in OPTIONAL:
            return None
        name = "a scalar tensor" if expected == "tensor" else expected[0].__name__
        if result is None:
            raise PluginError(f"plugin {self.plugin!r} does not implement hook {hook!r} "
                              f"(expected it to return {name})")
        if not _is(result, expected):
            culprit = self.plugin if self.implemented_by_domain(hook) else "tlgen.defaults"
            raise PluginError(f"plugin {culprit!r}, hook {hook!r} returned "
                              f"{type(result).__name__}, expected {name}")
        return result

    def implemented_by_domain(self, hook: str) -> bool:
        """Whether any plugin but core's defaults implements ``hook`` for this run."""
        return any(impl.plugin_name != "tlgen.defaults"
                   for impl in getattr(self.hooks, hook).get_hookimpls())

    def culprit(self, caller, exc: BaseException) -> str | None:
        """The plugin whose hook implementation is on the exception's traceback."""
        codes = {impl.function.__code__: impl.plugin_name for impl in caller.get_hookimpls()}
        tb, found = exc.__traceback__, None
        while tb is not None:
            found = codes.get(tb.tb_frame.f_code, found)
            tb = tb.tb_next
        return found


def _is(result: Any, expected: tuple[type, ...] | str) -> bool:
    if expected == "tensor":
        import torch

        return isinstance(result, torch.Tensor) and result.numel() == 1
    return isinstance(result, expected)
