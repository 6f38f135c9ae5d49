"""The art plugin passes tlgen's conformance kit (hooks, tiny run, exact resume) on a tiny
pixel pipeline built in code."""

import pytest

from tlgen.testing import PluginConformance

from .conftest import FAST


class TestArtConforms(PluginConformance):
    plugin = "art"

    @pytest.fixture(autouse=True)
    def _tiny_pipeline(self, pixel_dir):
        self.overrides = [*(o for o in FAST if not o.startswith("train.max_steps")),
                          f"backbone.path='{pixel_dir}'", "data.crop=16"]
