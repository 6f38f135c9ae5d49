"""Every recorded config under examples/ still validates against its plugin's schema, so a
renamed or retyped key cannot leave a documented command broken."""

from pathlib import Path

import pytest

from tlgen import Run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFIGS = sorted(p for p in EXAMPLES.glob("*/*.toml") if p.parent.name != "tlgen-abc")


def test_the_examples_record_configs_for_each_built_in_plugin():
    assert {p.parent.name for p in CONFIGS} == {"art", "lyrics", "molecules"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_config_validates(path, tmp_path):
    if path.name == "sweep.toml":  # a sweep file: its base and every bound of its space
        from tlgen.sweep_spec import read_spec

        assert read_spec(path).plugin == path.parent.name
        return
    run = Run.create(config_file=path, output_dir=tmp_path)
    assert run.config.plugin == path.parent.name
