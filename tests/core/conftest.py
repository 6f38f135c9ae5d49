from __future__ import annotations

from pathlib import Path

import pytest

CHARLM = str(Path(__file__).with_name("charlm_plugin.py"))


@pytest.fixture
def make_run(tmp_path):
    """Create a charlm run in tmp_path with overrides; extra plugin objects optional."""
    from tlgen import Run

    def make(*overrides, extra=(), **kwargs):
        return Run.create(CHARLM, overrides=list(overrides), output_dir=tmp_path / "runs",
                          device="cpu", extra_plugins=extra, **kwargs)

    return make


def hooks_plugin(**functions):
    """A plugin object whose hooks are the given functions (marked as hookimpls unless
    they already are)."""
    from tlgen import hookimpl

    marked = {k: f if hasattr(f, "tlgen_impl") else hookimpl(f) for k, f in functions.items()}
    return type("TestPlugin", (), {k: staticmethod(f) for k, f in marked.items()})()


def dropout_free_trainer(run):
    """A ``Trainer`` on ``run``'s backbone from seed 0 with dropout off, so that only what a
    test varies (the batching) changes a step's gradients; returns it and the data."""
    import torch

    from tlgen.trainer import Trainer

    torch.manual_seed(0)
    backbone = run.freeze(run.load_backbone())
    for module in backbone.model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    data = run.call("prepare_data", backbone=backbone)
    return Trainer(run, backbone, data), data
