"""What the CLI refuses, fed through the real command line: one line, exit 2, and nothing a
user had is overwritten or lost."""

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tlgen.cli import main

from .conftest import CHARLM


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, message, code=2):
    assert result.exit_code == code, result.output
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    result = invoke("run", "--plugin", CHARLM, "-o", out, "--device", "cpu", "--steps", "4",
                    "--set", "before=false")
    assert result.exit_code == 0, result.output
    return next(out.iterdir())


@pytest.mark.parametrize("n", ["0", "-1"])
def test_sample_refuses_fewer_than_one(finished_run, n):
    result = invoke("sample", finished_run, "-n", n)
    assert result.exit_code == 2 and f"{n} is not in the range x>=1" in result.output


def test_export_refuses_a_file_a_path_under_a_file_and_a_non_empty_folder(finished_run, tmp_path):
    afile = tmp_path / "some_file.txt"
    afile.write_text("keep me")
    one_line_error(invoke("export", finished_run, afile), "is a file; give a folder")
    one_line_error(invoke("export", finished_run, afile / "sub"), "some_file.txt is a file")
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.md").write_text("mine")
    one_line_error(invoke("export", finished_run, full), "is not empty; pass --overwrite")
    assert afile.read_text() == "keep me" and (full / "notes.md").read_text() == "mine"
    assert invoke("export", finished_run, full, "--overwrite").exit_code == 0
    assert (full / "model.safetensors").is_file() and (full / "notes.md").is_file()


@pytest.mark.parametrize("where", [".", "model", "samples/new"])
def test_export_never_writes_into_a_run_folder(finished_run, where):
    before = sorted(p.relative_to(finished_run) for p in finished_run.rglob("*"))
    one_line_error(invoke("export", finished_run, finished_run / where), "inside the run folder")
    assert sorted(p.relative_to(finished_run) for p in finished_run.rglob("*")) == before


def test_resume_applies_and_records_a_longer_run(tmp_path):
    out = tmp_path / "runs"
    assert invoke("run", "--plugin", CHARLM, "-o", out, "--device", "cpu", "--steps", "4",
                  "--set", "before=false").exit_code == 0
    run_dir = next(out.iterdir())
    result = invoke("run", "--resume", run_dir, "--steps", "8")
    assert result.exit_code == 0, result.output
    assert "max_steps = 8" in (run_dir / "config.toml").read_text()
    assert "train.max_steps: 4 -> 8" in (run_dir / "resumes.log").read_text()
    assert (run_dir / "checkpoints" / "step-00000008").is_dir()


@pytest.mark.parametrize("args, message", [
    (["--set", "freeze.strategy='lora'"], "--resume cannot change freeze.strategy"),
    (["--set", "train.lr=0.1"], "--resume cannot change train.lr"),
    (["--backbone", "gpt2"], "--resume cannot change backbone.path"),
    (["--plugin", CHARLM], "--resume takes the run folder"),
])
def test_resume_refuses_what_would_make_another_run(finished_run, args, message):
    config = (finished_run / "config.toml").read_text()
    one_line_error(invoke("run", "--resume", finished_run, *args), message)
    assert (finished_run / "config.toml").read_text() == config


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path):
    """The output folder on a small tmpfs: the first checkpoint fits, a later one does not."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(disk)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        result = invoke("run", "--plugin", CHARLM, "-o", disk, "--device", "cpu", "--set",
                        "before=false", "--set", "train.save_every=1", "--set", "train.keep_last=9",
                        "--set", "train.max_steps=12")
        last = result.output.strip().splitlines()[-1]  # after the run's progress lines
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert last.startswith("Error: could not write checkpoint") and "the disk is full" in last
        run_dir = next(disk.iterdir())
        names = [p.name for p in (run_dir / "checkpoints").iterdir()]
        assert names and all(n.startswith("step-") for n in names), names  # no temp folder left
        assert f"previous checkpoint {sorted(names)[-1]} is intact" in result.output
    finally:
        subprocess.run(["umount", str(disk)], check=False)
