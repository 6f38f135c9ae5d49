"""A conformance kit for plugin authors, run inside their own pytest suite.

Subclass ``PluginConformance`` in a test module and name your plugin; pytest collects
the checks (hook signatures, the required hooks, a tiny end-to-end run through the
shared trainer, sample/evaluate return shapes, report sections, and exact resume after a
kill under each freeze strategy (full, freeze-first:1, LoRA), compared on the trained
weights)::

    from tlgen.testing import PluginConformance

    class TestMyPlugin(PluginConformance):
        plugin = "tlgen_music.plugin"            # entry-point name, module or file.py
        overrides = ["train.max_steps=4", "sample.n=3", "data.path='tests/tiny'"]

Each check is also a plain function (``check_hooks``, ``run_tiny``, ``check_resume``)
for authors who don't use pytest classes.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import numbers
from pathlib import Path
from typing import Sequence

import pytest

from . import hookspecs
from .hookspecs import hookimpl
from .run import Run

REQUIRED = ("load_backbone", "prepare_data", "sample", "evaluate")
# Each freeze strategy trains and resumes (a missing layer_map, or a LoRA set-up that
# breaks, fails here rather than in a user's run).
STRATEGIES = ("full", "freeze-first:1", "lora")
TINY = ["train.max_steps=4", "train.eval_every=2", "train.save_every=2", "train.log_every=1",
        "train.warmup_steps=1"]


class Killed(KeyboardInterrupt):
    """Raised from a step callback to stand in for a killed process."""


class KillAt:
    """A plugin that stops a run at ``step`` by raising ``Killed``, as if the process were
    killed there (pass it in ``extra_plugins``); ``Run.open(run.dir)`` then resumes."""

    def __init__(self, step: int) -> None:
        self.step = step

    @hookimpl
    def on_step(self, step: int) -> None:
        if step == self.step:
            raise Killed()


def check_hooks(plugin: str | object) -> list[str]:
    """The names of the hooks ``plugin`` implements; fails on an unknown hook name, an
    argument its spec does not have, or a missing required hook."""
    module = _module(plugin)
    specs = {name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
             if hasattr(getattr(hookspecs, name), "tlgen_spec")}
    found = []
    for name, func in inspect.getmembers(module, callable):
        if not hasattr(func, "tlgen_impl"):
            continue
        assert name in specs, f"plugin {_label(plugin)}: {name!r} is not a tlgen hook ({sorted(specs)})"
        allowed = set(inspect.signature(getattr(hookspecs, name)).parameters)
        extra = set(inspect.signature(func).parameters) - allowed - {"self"}
        assert not extra, (f"plugin {_label(plugin)}, hook {name!r}: unknown argument(s) "
                           f"{sorted(extra)}; the spec allows {sorted(allowed)}")
        found.append(name)
    missing = [h for h in REQUIRED if h not in found]
    assert not missing, f"plugin {_label(plugin)} does not implement required hook(s) {missing}"
    return found


def run_tiny(plugin: str | object, out: Path, overrides: Sequence[str] = (),
             extra_plugins: Sequence[object] = ()) -> dict:
    """A tiny end-to-end run (before -> train -> after -> report); checks what it wrote."""
    run = Run.create(_spec(plugin), overrides=[*TINY, *overrides], output_dir=out,
                     device="cpu", extra_plugins=extra_plugins)
    summary = run.execute()
    for stage in ("before", "after") if run.config.before else ("after",):
        metrics = summary["metrics"][stage]
        assert metrics, f"plugin {_label(plugin)}: evaluate returned no metrics for {stage!r}"
        bad = {k: v for k, v in metrics.items()
               if not isinstance(v, numbers.Real | type(None))}
        assert not bad, f"plugin {_label(plugin)}: evaluate must return numbers, got {bad}"
    assert summary["train"]["steps"] == run.config.train.max_steps
    for name in ("config.toml", "metrics.jsonl", "report.html", "summary.json"):
        assert (run.dir / name).is_file(), f"the run did not write {name}"
    assert (run.dir / "model").is_dir(), "the run did not export model/"
    backbone = run.load_trained()
    data = run.call("prepare_data", backbone=backbone)
    samples = run.call("sample", backbone=backbone, data=data, n=2, stage="check")
    assert isinstance(samples, list) and len(samples) >= 2, (
        f"plugin {_label(plugin)}: sample(n=2) returned {len(samples)} items, expected 2 "
        "(plus any fixed set the domain always makes)")
    return summary


def check_resume(plugin: str | object, out: Path, overrides: Sequence[str] = ()) -> None:
    """Kill a tiny run after its first checkpoint, resume it, and compare with an
    uninterrupted run: the same final training loss and the same trained weights."""
    settings = [*TINY, *overrides, "before=false"]
    reference = Run.create(_spec(plugin), overrides=settings, output_dir=out / "reference",
                           device="cpu")
    want = reference.execute()
    killed = Run.create(_spec(plugin), overrides=settings, output_dir=out / "killed",
                        device="cpu", extra_plugins=[KillAt(3)])
    with pytest.raises(Killed):
        killed.execute()
    got = Run.open(killed.dir).execute()
    assert got["train"]["steps"] == want["train"]["steps"]
    losses = [_last_train_loss(r.dir) for r in (reference, killed)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4), f"resume changed the loss: {losses}"
    want, got = (_final_weights(r.dir) for r in (reference, killed))
    assert want.keys() == got.keys(), "the resumed run's checkpoint holds other tensors"
    for key in want:
        assert _close(got[key], want[key]), f"resume changed the trained weight {key!r}"


class PluginConformance:
    """Subclass with ``plugin = ...`` (and ``overrides``) to get the checks as tests."""

    plugin: str | object = ""
    overrides: Sequence[str] = ()

    def test_hooks_match_their_specs(self):
        check_hooks(self.plugin)

    def test_tiny_run_end_to_end(self, tmp_path):
        run_tiny(self.plugin, tmp_path, self.overrides)

    @pytest.mark.parametrize("strategy", STRATEGIES)
    def test_killed_run_resumes_exactly(self, tmp_path, strategy):
        check_resume(self.plugin, tmp_path, [*self.overrides, f"freeze.strategy={strategy!r}"])


def _module(plugin: str | object) -> object:
    if not isinstance(plugin, str):
        return plugin
    if plugin.endswith(".py"):
        spec = importlib.util.spec_from_file_location(Path(plugin).stem, plugin)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    from importlib.metadata import entry_points

    for ep in entry_points(group="tlgen"):
        if ep.name == plugin:
            return ep.load()
    return importlib.import_module(plugin)


def _spec(plugin: str | object) -> str:
    return plugin if isinstance(plugin, str) else plugin.__name__


def _label(plugin: str | object) -> str:
    return repr(_spec(plugin))


def _final_weights(run_dir: Path) -> dict:
    from safetensors.torch import load_file

    from .checkpoints import list_checkpoints

    return load_file(list_checkpoints(run_dir / "checkpoints")[-1] / "model.safetensors")


def _close(a, b) -> bool:
    import torch

    return torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-6)


def _last_train_loss(run_dir: Path) -> float:
    from .report import read_metrics

    return [r["loss"] for r in read_metrics(run_dir) if r.get("split") == "train"][-1]
