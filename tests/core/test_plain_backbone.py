"""A plain torch.nn.Module backbone is first-class: with its plugin's loss, layer_map and
export it trains, resumes and exports under every freeze strategy; without them each
run refuses before training, naming the hook to write."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from tlgen import Run, hookimpl
from tlgen.cli import main
from tlgen.testing import PluginConformance

PLAIN = str(Path(__file__).with_name("plain_plugin.py"))
HOOKS = ("config_schema", "default_train_config", "load_backbone", "prepare_data", "loss",
         "layer_map", "sample", "evaluate", "export")


class TestPlainModuleConforms(PluginConformance):
    plugin = PLAIN


def without(tmp_path, *left_out: str) -> str:
    """The plain plugin minus some hooks, as a plugin file."""
    kept = [h for h in HOOKS if h not in left_out]
    path = tmp_path / f"plain_without_{'_'.join(left_out)}.py"
    path.write_text(f"from tests.core.plain_plugin import {', '.join(kept)}  # noqa: F401\n")
    return str(path)


def run_cli(plugin, tmp_path, *flags):
    return CliRunner().invoke(main, ["run", "--plugin", plugin, "-o", str(tmp_path / "runs"),
                                     "--device", "cpu", "--set", "before=false", *flags])


@pytest.mark.parametrize("hook, flags", [("loss", []), ("export", []),
                                         ("layer_map", ["--freeze", "lora"])])
def test_a_missing_hook_is_named_before_training(tmp_path, hook, flags):
    result = run_cli(without(tmp_path, hook), tmp_path, *flags)
    assert result.exit_code == 2, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert f"implement the {hook} hook" in last and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_lora_with_a_head_named_out_trains_and_exports_merged(tmp_path):
    run = Run.create(PLAIN, overrides=["freeze.strategy='lora'", "before=false"],
                     output_dir=tmp_path, device="cpu")
    run.execute()
    exported = run.export(tmp_path / "export")
    from safetensors.torch import load_file

    state = load_file(exported / "model.safetensors")
    from tests.core.plain_plugin import CharMLP

    assert set(state) == set(CharMLP().state_dict())  # merged: the plain module's own keys


def test_the_loss_hook_is_told_training_or_held_out(tmp_path):
    seen = []

    class Spy:
        @hookimpl(wrapper=True)
        def loss(self, training):
            seen.append(training)
            return (yield)

    Run.create(PLAIN, overrides=["before=false", "train.max_steps=2", "train.eval_every=2"],
               output_dir=tmp_path, device="cpu", extra_plugins=[Spy()]).execute()
    assert True in seen and False in seen
    assert seen[:2] == [True, True]  # two optimizer steps first, then held-out batches


@pytest.mark.parametrize("returned, message", [
    ("1.5", "hook 'loss' returned float, expected a scalar tensor"),
    ("torch.ones(3)", "hook 'loss' returned Tensor, expected a scalar tensor"),
    ("1 / 0", "hook 'loss' raised ZeroDivisionError"),
])
def test_a_broken_loss_is_one_line_naming_plugin_and_hook(tmp_path, returned, message):
    path = tmp_path / "broken_loss.py"
    kept = [h for h in HOOKS if h != "loss"]
    path.write_text(f"import torch\nfrom tlgen import hookimpl\n"
                    f"from tests.core.plain_plugin import {', '.join(kept)}  # noqa: F401\n\n\n"
                    f"@hookimpl\ndef loss(model, batch):\n    return {returned}\n")
    result = run_cli(str(path), tmp_path)
    assert result.exit_code == 2, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert message in last and "broken_loss" in last and "'train'" not in last
