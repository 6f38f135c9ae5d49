"""The lyrics plugin passes tlgen's conformance kit (hooks, tiny run, exact resume) on a tiny
Llama built in code."""

import pytest
from tlgen.testing import PluginConformance

from .test_run import TINY_RUN


@pytest.mark.slow
class TestLyricsConforms(PluginConformance):
    plugin = "lyrics"

    @pytest.fixture(autouse=True)
    def _tiny_backbone(self, tiny_backbone):
        self.overrides = [f"backbone.path='{tiny_backbone}'", *TINY_RUN]
