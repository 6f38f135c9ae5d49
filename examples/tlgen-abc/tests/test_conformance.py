"""tlgen's conformance kit: hook signatures, a tiny run through the shared trainer, exact resume."""

from tlgen.testing import PluginConformance

TINY = ["backbone.n_layer=1", "backbone.n_embd=16", "backbone.n_head=2", "train.batch_size=4",
        "sample.n=2", "sample.max_chars=40"]


class TestAbcPlugin(PluginConformance):
    plugin = "tlgen_abc.plugin"
    overrides = TINY
