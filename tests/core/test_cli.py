import subprocess
import sys

import pytest
from click.testing import CliRunner

from tlgen.cli import main

from .conftest import CHARLM


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_help_and_plugins_do_not_import_torch():
    code = ("import sys; from click.testing import CliRunner; from tlgen.cli import main; "
            "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0, r.output; "
            "r = CliRunner().invoke(main, ['plugins']); assert r.exit_code == 0, r.output; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True)


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and "tlgen, version" in result.output


@pytest.mark.parametrize("args, message", [
    (["run", "--plugin", "no-such-plugin"], "unknown plugin 'no-such-plugin'; installed:"),
    (["run", "--plugin", CHARLM, "--set", "train.lerning_rate=1"], "unknown key 'train.lerning_rate'"),
    (["run", "--plugin", CHARLM, "--set", "train.batch_size=big"], "key 'train.batch_size'"),
    (["run", "--config", "missing.toml"], "config file missing.toml does not exist"),
    (["run", "--resume", "no/such/run"], "run folder no/such/run does not exist"),
    (["sample", "."], "is not a tlgen run"),
    (["run"], "no plugin given"),
])
def test_bad_input_is_one_line_and_nonzero(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_run_sample_evaluate_export(tmp_path):
    out = tmp_path / "runs"
    result = invoke("run", "--plugin", CHARLM, "-o", str(out), "--device", "cpu", "--steps", "4")
    assert result.exit_code == 0, result.output
    assert "val_loss" in result.output and "before" in result.output
    run_dir = next(out.iterdir())
    result = invoke("sample", str(run_dir), "-n", "3")
    assert result.exit_code == 0 and len(result.output.strip().splitlines()) == 3
    summary = (run_dir / "summary.json").read_text()
    for _ in range(2):  # each evaluation is a new, dated file; the run's results stay
        result = invoke("evaluate", str(run_dir), "-n", "2")
        assert result.exit_code == 0 and "val_loss" in result.output
    assert (run_dir / "summary.json").read_text() == summary
    assert len(list((run_dir / "evaluations").glob("eval-*.json"))) == 2
    result = invoke("export", str(run_dir), str(tmp_path / "hf"))
    assert result.exit_code == 0 and (tmp_path / "hf" / "model.safetensors").exists()


def test_new_plugin_writes_a_package_and_refuses_a_taken_name(tmp_path):
    result = invoke("new-plugin", "poems", "--dest", str(tmp_path))
    assert result.exit_code == 0, result.output
    root = tmp_path / "tlgen-poems"
    assert (root / "pyproject.toml").is_file()
    assert (root / "tlgen_poems" / "plugin.py").is_file()
    again = invoke("new-plugin", "poems", "--dest", str(tmp_path))
    assert again.exit_code != 0 and "already exists" in again.output
    assert len(again.output.strip().splitlines()) == 1


def test_sample_takes_a_seed_and_writes_a_dated_stage(tmp_path):
    runner = CliRunner()
    done = runner.invoke(main, ["run", "--plugin", CHARLM, "-o", str(tmp_path), "--device", "cpu",
                                "--steps", "2", "--set", "before=false"])
    assert done.exit_code == 0, done.output
    run_dir = next(tmp_path.iterdir())
    draws = [runner.invoke(main, ["sample", str(run_dir), "-n", "3", "--seed", str(seed)]).stdout
             for seed in (1, 1, 2)]
    assert draws[0] == draws[1] != draws[2]
    assert not (run_dir / "samples" / "cli").exists()
