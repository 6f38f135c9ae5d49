"""What the CLI refuses, fed through the real command line: one line, exit 2 (130/143 for a
signal), no traceback, and nothing a user had is overwritten, lost or falsely recorded.

The cases of issue 25 are marked ``# 25.N``. Most run in-process through click's CliRunner
(the same ``main``); signals and the lock need a second process. Read-only cases run with
root's override dropped (``seteuid`` to nobody) when the tests run as root."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import NamedTuple

import pytest
from click.testing import CliRunner

from tlgen.cli import main

from .conftest import CHARLM

TLGEN = str(Path(sys.executable).with_name("tlgen"))
TINY = ["--set", "train.max_steps=2", "--set", "sample.n=4", "--set", "evaluate.fcd=false",
        "--set", "evaluate.property_model=false", "--set", "train.threads=1", "--set",
        "train.batch_size=8", "--set", "train.heldout_batches=1", "--set", "train.eval_batches=1",
        "--set", "before=false", "--device", "cpu"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, message, code=2):
    assert result.exit_code == code, result.output
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def refused(result, message: str, want: int = 2, prefix: str = "Error: ") -> str:
    """The command (a CliRunner result or a ``Done``) ended with ``want``, no traceback, and
    its last line on stderr starts with ``prefix`` and names the problem; returns that line."""
    assert result.exit_code == want, result.output
    assert "Traceback" not in result.output, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(prefix) and message in last, result.output
    assert len(last) < 600, last[:600]
    return last


def tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: a file's SHA-256, a link's target, or 'dir'."""
    out = {}
    for path in sorted(Path(folder).rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            out[key] = "link:" + os.readlink(path)
        elif path.is_dir():
            out[key] = "dir"
        else:
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@contextlib.contextmanager
def unchanged(folder: Path):
    """Assert that ``folder`` is byte-identical after the block."""
    before = tree(folder)
    yield
    assert tree(folder) == before


@contextlib.contextmanager
def as_nobody():
    """Root's override of file permissions dropped for the block (effective user nobody)."""
    if os.geteuid() != 0:
        yield
        return
    try:
        os.setegid(65534)
        os.seteuid(65534)
    except PermissionError:
        pytest.skip("running as root without the right to drop to another user")
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture(scope="module")
def molecules_run(tmp_path_factory):
    """One finished tiny molecules run (the issue's RUN), made once for the module."""
    out = tmp_path_factory.mktemp("molruns")
    result = invoke("run", "--plugin", "molecules", "-o", out, *TINY)
    assert result.exit_code == 0, result.output
    return next(out.iterdir())


@pytest.fixture
def run_dir(molecules_run):
    """A copy of the finished run in a folder that user nobody can reach (for the read-only
    cases); removed after the test."""
    base = Path(tempfile.mkdtemp(prefix="tlgen-refusals-"))
    base.chmod(0o755)
    copy = base / molecules_run.name
    shutil.copytree(molecules_run, copy, symlinks=True)
    yield copy
    for path in [base, *base.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(base)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    result = invoke("run", "--plugin", CHARLM, "-o", out, "--device", "cpu", "--steps", "4",
                    "--set", "before=false")
    assert result.exit_code == 0, result.output
    return next(out.iterdir())


class Done(NamedTuple):
    """A finished ``tlgen`` process, read like a CliRunner result."""

    exit_code: int
    stderr: str
    output: str


def start(*args, cwd=None) -> subprocess.Popen:
    """The real ``tlgen`` command in a process of its own."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("TLGEN_TRACEBACK", None)
    return subprocess.Popen([TLGEN, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)


def finish(proc: subprocess.Popen, timeout: float = 300) -> Done:
    out, err = proc.communicate(timeout=timeout)
    return Done(proc.returncode, err, out + err)


def wait_for(condition, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the command ended early: {finish(proc).output}")
        if time.time() > deadline:
            proc.kill()
            pytest.fail("timed out waiting for the command")
        time.sleep(0.1)


def config_written(path: Path) -> bool:
    """Whether the run's config.toml is complete (it may be seen while being written)."""
    try:
        return "plugin" in tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False


def holds_lock(proc: subprocess.Popen, folder: Path) -> bool:
    """Whether ``proc`` holds a flock on ``folder`` (read from /proc/locks, which takes none)."""
    inode = os.stat(folder).st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if "FLOCK" in parts and str(proc.pid) in parts and parts[5].endswith(f":{inode}"):
            return True
    return False


# ------------------------------------------------------------------ tracebacks before (25.1-9)
@pytest.mark.parametrize("value, message", [
    ("-1", "key 'seed': Input should be greater than or equal to 0"),  # 25.1
    (str(2**32), "key 'seed': Input should be less than or equal to 4294967295"),
])
def test_seed_out_of_range_is_refused_before_anything_is_made(tmp_path, value, message):
    result = invoke("run", "--plugin", "molecules", "-o", tmp_path / "out", "--set",
                    f"seed={value}")
    refused(result, message)
    assert not (tmp_path / "out").exists()


def test_output_folder_that_is_a_file_is_refused(tmp_path):  # 25.2
    afile = tmp_path / "afile"
    afile.write_text("x\n")
    result = invoke("run", "--plugin", "molecules", "-o", afile)
    refused(result, "is a file; give a folder")
    assert afile.read_text() == "x\n" and list(tmp_path.iterdir()) == [afile]


@pytest.mark.parametrize("command", ["config", "resume", "export"])
def test_a_file_name_too_long_is_one_line(run_dir, tmp_path, command):  # 25.3
    long = "n" * 260
    args = {"config": ["run", "--config", f"{long}.toml"],
            "resume": ["run", "--resume", tmp_path / long],
            "export": ["export", run_dir, tmp_path / long]}[command]
    with unchanged(run_dir):
        result = invoke(*args)
    refused(result, "longer than the 255 a file name may have")


def test_a_plugin_that_is_not_text_is_refused(tmp_path):  # 25.4
    config = tmp_path / "bad.toml"
    config.write_text("plugin = 5\n")
    result = invoke("run", "--config", config, "-o", tmp_path / "out")
    refused(result, "config key 'plugin': expected a plugin name")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_export_to_a_broken_symlink_is_refused(run_dir, tmp_path, kind):  # 25.5
    link = tmp_path / "dangling"
    if kind == "dangling":
        link.symlink_to("nowhere/model")
        message = "is a symbolic link to nowhere/model, which does not exist"
    else:
        link.symlink_to(tmp_path / "other")
        (tmp_path / "other").symlink_to(link)
        message = "is a symbolic link loop"
    with unchanged(run_dir):
        result = invoke("export", run_dir, link)
    refused(result, message)
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()


def test_evaluate_on_a_read_only_run_is_refused_up_front(run_dir):  # 25.6
    for path in [run_dir, *run_dir.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    with unchanged(run_dir), as_nobody():
        result = invoke("evaluate", run_dir, "-n", "5")
    refused(result, "is read-only for this user")


def test_export_under_a_read_only_folder_is_refused(run_dir):  # 25.7
    shared = run_dir.parent / "shared"
    shared.mkdir(mode=0o555)
    shared.chmod(0o555)
    with unchanged(run_dir), as_nobody():
        result = invoke("export", run_dir, shared / "model")
    refused(result, f"the folder {shared} is read-only for this user")
    assert list(shared.iterdir()) == []


def test_run_into_a_read_only_output_folder_is_refused(run_dir):  # 25.8
    out = run_dir.parent / "out"
    out.mkdir()
    out.chmod(0o555)
    with as_nobody():
        result = invoke("run", "--plugin", "molecules", "-o", out)
    refused(result, "is read-only for this user")
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("kind", ["file", "read-only"])
def test_new_plugin_dest_must_be_a_writable_folder(run_dir, kind):  # 25.9
    dest = run_dir.parent / "dest"
    if kind == "file":
        dest.write_text("mine")
        message = "is a file; give a folder"
    else:
        dest.mkdir()
        dest.chmod(0o555)
        message = "is read-only for this user"
    with as_nobody():
        result = invoke("new-plugin", "music", "--dest", dest)
    refused(result, message)
    assert dest.read_text() == "mine" if kind == "file" else list(dest.iterdir()) == []


# ------------------------------------------------------------------ changed files (25.10-15)
def test_a_checkpoint_of_another_model_is_refused(run_dir):  # 25.10
    import torch
    from safetensors.torch import save_file

    weights = next((run_dir / "checkpoints").glob("step-*")) / "model.safetensors"
    save_file({"conv_in.weight": torch.zeros(8, 3, 3, 3), "conv_in.bias": torch.zeros(8)},
              weights)
    with unchanged(run_dir):
        result = invoke("run", "--resume", run_dir, "--steps", "4")
    refused(result, "does not belong to this run's model: 0 of its 2")


def test_export_resolves_a_relative_path_into_the_run(run_dir, monkeypatch):  # 25.11
    monkeypatch.chdir(run_dir / "samples")
    with unchanged(run_dir):
        result = invoke("export", "..", "exported")
    refused(result, f"is inside the run folder {run_dir}")


def test_two_resumes_at_once_the_second_is_refused(run_dir):  # 25.12
    first = start("run", "--resume", run_dir, "--steps", "3")
    wait_for(lambda: holds_lock(first, run_dir), first)
    second = invoke("run", "--resume", run_dir, "--steps", "3")
    refused(second, "is in use by another tlgen process")
    done = finish(first)
    assert done.exit_code == 0, done.output
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").open()
             if json.loads(line)["split"] == "train"]
    assert steps == sorted(set(steps)) and steps[-1] == 3
    assert len((run_dir / "resumes.log").read_text().splitlines()) == 1


def test_a_resume_that_cannot_start_writes_nothing(run_dir):  # 25.13
    for weights in (run_dir / "checkpoints").glob("step-*/model.safetensors"):
        weights.unlink()
    with unchanged(run_dir):
        result = invoke("run", "--resume", run_dir, "--steps", "5")
    refused(result, "is incomplete (no model.safetensors)")
    assert not (run_dir / "resumes.log").exists()


def test_a_torn_last_metrics_line_is_dropped_on_resume(run_dir):  # 25.14
    log = run_dir / "metrics.jsonl"
    with log.open("a") as fh:
        fh.write('{"step": 2, "split": "tra')
    result = invoke("run", "--resume", run_dir, "--steps", "3")
    assert result.exit_code == 0, result.output
    assert "dropped a torn last line" in result.output
    assert all(json.loads(line) for line in log.read_text().splitlines())


def test_a_metrics_log_broken_before_its_last_line_names_the_file(run_dir):  # 25.14
    log = run_dir / "metrics.jsonl"
    log.write_text("not json\n" + log.read_text())
    with unchanged(run_dir):
        result = invoke("run", "--resume", run_dir, "--steps", "3")
    refused(result, f"{log}, line 1: not a metrics record")


def test_compare_checks_every_variant_before_training(tmp_path):  # 25.15
    result = invoke("compare", "--plugin", "molecules", "--variant", "full", "--variant", "bogus",
                    "-o", tmp_path / "out")
    refused(result, "--variant 'bogus': config: key 'freeze.strategy'")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ signals (25.16-17)
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_before_training_leaves_no_folder_and_says_so(tmp_path, signum, code):
    out = tmp_path / "out"  # 25.16, 25.17: killed while the data is prepared
    proc = start("run", "--plugin", "molecules", "-o", out, *TINY, "--set", "before=true",
                 "--set", "sample.n=500")
    wait_for(lambda: any(config_written(p) for p in out.glob("*/config.toml")), proc)
    new = next(out.iterdir())
    assert holds_lock(proc, new)
    # a resume of a run that another process is still writing is refused
    refused(invoke("run", "--resume", new), "is in use by another tlgen process")
    proc.send_signal(signum)
    done = finish(proc)
    name = signal.Signals(signum).name
    refused(done, f"{name} before training started: nothing to resume, the "
            "run folder was removed; start the run again", want=code, prefix="Stopped: ")
    assert list(out.iterdir()) == []


def test_a_signal_before_a_resume_trains_changes_nothing(run_dir):
    with unchanged(run_dir):
        proc = start("run", "--resume", run_dir, "--steps", "4")
        wait_for(lambda: holds_lock(proc, run_dir), proc)
        proc.send_signal(signal.SIGTERM)
        done = finish(proc)
    refused(done, "SIGTERM: stopped; the last checkpoint is step-00000002",
            want=143, prefix="Stopped: ")


# ------------------------------------------------------------------ unclear messages (25.18-21)
def test_a_huge_value_is_shortened_in_the_message(tmp_path):  # 25.18
    config = tmp_path / "big.toml"
    config.write_text(f'plugin = "molecules"\n[train]\nlr = "{"9" * 2_000_000}"\n')
    result = invoke("run", "--config", config, "-o", tmp_path / "out")
    last = refused(result, "key 'train.lr'")
    assert len(last) < 300 and "..." in last


def test_a_folder_given_as_a_data_file_is_named_a_folder(tmp_path):  # 25.19
    (tmp_path / "d.smi").mkdir()
    result = invoke("run", "--plugin", "molecules", "-o", tmp_path / "out", "--set",
                    f"data.source='{tmp_path / 'd.smi'}'")
    refused(result, "d.smi is a folder, not a file; fix data.source")
    assert list((tmp_path / "out").glob("*")) == []


@pytest.mark.parametrize("content, message", [
    (b"CCO\nc1ccccc1\n", "is named .gz but is not gzip-compressed"),  # 25.20
    (gzip.compress(b"".join(b"C" * (i % 37) + b"O\n" for i in range(3000)))[:200],
     "the gzip archive is truncated or corrupt"),
])
def test_a_bad_gzip_data_file_is_named(tmp_path, content, message):
    data = tmp_path / "set.smi.gz"
    data.write_bytes(content)
    result = invoke("run", "--plugin", "molecules", "-o", tmp_path / "out", "--set",
                    f"data.source='{data}'")
    refused(result, f"data file {data}")
    assert message in result.output and list((tmp_path / "out").glob("*")) == []


def test_resume_cannot_change_the_plugin(run_dir):  # 25.21
    with unchanged(run_dir):
        result = invoke("run", "--resume", run_dir, "--set", "plugin=lyrics")
    refused(result, "--resume cannot change the plugin")


# ------------------------------------------------------------------ beyond the list
@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_a_non_finite_number_is_refused(tmp_path, value):
    result = invoke("run", "--plugin", "molecules", "-o", tmp_path / "out", "--set",
                    f"train.lr={value}")
    refused(result, "key 'train.lr': Input should be a finite number")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [["sample"], ["evaluate"], ["export", "OUT"],
                                     ["run", "--resume"]])
def test_a_file_given_as_a_run_folder_is_named_a_file(tmp_path, command):
    afile = tmp_path / "afile"
    afile.write_text("x")
    args = [a.replace("OUT", str(tmp_path / "out")) for a in command]
    args = [*args[:1], afile, *args[1:]] if command[0] == "export" else [*args, afile]
    result = invoke(*args)
    refused(result, "afile is a file; give a run folder")
    assert afile.read_text() == "x" and not (tmp_path / "out").exists()


def test_a_run_name_too_long_is_refused(tmp_path):
    result = invoke("run", "--plugin", "molecules", "-o", tmp_path / "out", "--name", "n" * 300)
    refused(result, "run folder (--name)")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # a second process that loads the model and samples: ~25 s
def test_sigterm_during_evaluate_keeps_nothing_of_it(run_dir):
    with unchanged(run_dir):
        proc = start("evaluate", run_dir, "-n", "20000")
        wait_for(lambda: any(" train, " in line for line in [proc.stdout.readline()]), proc)
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        done = finish(proc)
    refused(done, "SIGTERM: the evaluation stopped; nothing of it was kept", want=143,
            prefix="Stopped: ")


# ------------------------------------------------------------------ earlier refusals
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
    with unchanged(finished_run):
        one_line_error(invoke("export", finished_run, finished_run / where),
                       "inside the run folder")


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
    with unchanged(finished_run):
        one_line_error(invoke("run", "--resume", finished_run, *args), message)


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


def test_resume_to_fewer_steps_than_trained_is_refused(run_dir):
    with unchanged(run_dir):
        result = invoke("run", "--resume", run_dir, "--steps", "1")
    refused(result, "train.max_steps 1 is below the 2 steps already trained (step-00000002)")


def test_serve_refuses_one_process_options_with_replicas(tmp_path):
    """--sample-process / --overlap-scoring shape one server process; with --replicas they
    would be ignored, so they are refused before Ray starts."""
    pytest.importorskip("fastapi")
    for flag in ("--sample-process", "--overlap-scoring"):
        result = invoke("serve", tmp_path, "--replicas", 2, flag)
        assert result.exit_code == 2
        assert result.output.strip().splitlines() == [
            "Error: --sample-process and --overlap-scoring serve one process; with --replicas "
            "each Ray replica samples and scores on its own thread"]
