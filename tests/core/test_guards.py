"""The run-folder guards, one behaviour each (the CLI cases are in test_cli_refusals.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from tlgen import TlgenError
from tlgen.checkpoints import check_weights_match
from tlgen.guards import (
    FolderInUse,
    RunLock,
    Stopped,
    check_plugin_unchanged,
    check_resumable,
    cut_metrics_log,
    discard_on_failure,
    explain_stop,
    read_metrics_log,
    remove_new_run,
    signals_stop,
)

HOLD = ("import sys, time; from tlgen.guards import RunLock\n"
        "with RunLock(sys.argv[1]):\n    print('held', flush=True); time.sleep(30)\n")


def test_a_second_process_is_refused_the_lock_and_gets_it_once_released(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderInUse, match="is in use by another tlgen process"):
            with RunLock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with RunLock(tmp_path):
        pass
    assert list(tmp_path.iterdir()) == []  # the lock adds no file to the folder


def test_the_lock_is_reentrant_in_one_process(tmp_path):
    with RunLock(tmp_path), RunLock(tmp_path):
        pass
    with RunLock(tmp_path):  # released after the outer block
        pass


def test_a_torn_last_metrics_line_is_dropped_with_a_note(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n{"step": 3, "lo')
    lines, note = read_metrics_log(log)
    assert [json.loads(line)["step"] for line in lines] == [1, 2]
    assert "dropped a torn last line" in note
    notes = []
    cut_metrics_log(log, 1, notes.append)
    assert log.read_text() == '{"step": 1, "loss": 2.0}\n' and len(notes) == 1


def test_a_bad_line_before_the_last_names_the_file_and_line(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1}\n\n[1, 2]\n{"step": 3}\n')  # numbered as an editor shows it
    with pytest.raises(TlgenError, match=r"metrics.jsonl, line 3: not a metrics record"):
        read_metrics_log(log)


def _checkpoint(run_dir, tensors):
    step = run_dir / "checkpoints" / "step-00000004"
    step.mkdir(parents=True)
    save_file(tensors, step / "model.safetensors")
    return step / "model.safetensors"


def test_check_resumable_refuses_an_incomplete_or_corrupt_checkpoint(tmp_path):
    assert check_resumable(tmp_path) is None  # nothing saved yet: training starts over
    weights = _checkpoint(tmp_path, {"w": torch.zeros(2)})
    assert check_resumable(tmp_path) == weights.parent
    weights.write_bytes(b"garbage")
    with pytest.raises(TlgenError, match="step-00000004 is corrupted"):
        check_resumable(tmp_path)
    weights.unlink()
    with pytest.raises(TlgenError, match=r"is incomplete \(no model.safetensors\)"):
        check_resumable(tmp_path)


def test_a_checkpoint_of_another_model_does_not_match(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    model[0].requires_grad_(False)  # frozen: not in the checkpoint
    trained = {f"1.{k}": v.clone() for k, v in model[1].state_dict().items()}
    own = _checkpoint(tmp_path / "own", trained)
    check_weights_match(model, own)
    foreign = _checkpoint(tmp_path / "foreign", {"conv_in.weight": torch.zeros(1)})
    with pytest.raises(TlgenError, match="does not belong to this run's model: 0 of its 1"):
        check_weights_match(model, foreign)


def test_resume_cannot_name_another_plugin():
    check_plugin_unchanged("molecules", ["plugin='molecules'", "train.max_steps=5"])
    with pytest.raises(TlgenError, match="cannot change the plugin"):
        check_plugin_unchanged("molecules", ["plugin=lyrics"])


def test_sigterm_raises_a_stop_inside_the_block_and_not_after():
    with pytest.raises(Stopped) as caught, signals_stop():
        os.kill(os.getpid(), signal.SIGTERM)
    assert caught.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.parametrize("checkpoint, removed, text", [
    (False, True, "nothing to resume, the run folder was removed"),
    (False, False, "before the first checkpoint: nothing new was saved"),
    (True, False, "the last checkpoint is step-00000004"),
])
def test_a_bare_stop_says_what_is_left(tmp_path, checkpoint, removed, text):
    if checkpoint:
        _checkpoint(tmp_path, {"w": torch.zeros(1)})
    with pytest.raises(Stopped, match=text) as caught:
        explain_stop(Stopped("", 143), tmp_path, removed)
    assert caught.value.exit_code == 143
    explain_stop(ValueError("x"), tmp_path, removed)  # anything else passes


def test_a_failed_start_removes_the_folder_unless_another_process_owns_it(tmp_path):
    (tmp_path / "a").mkdir()
    assert not remove_new_run(tmp_path / "a", FolderInUse("busy"))
    assert (tmp_path / "a").is_dir()
    assert remove_new_run(tmp_path / "a", TlgenError("bad data"))
    assert not (tmp_path / "a").exists()


def test_a_failed_addition_to_a_run_is_removed_and_older_files_kept(tmp_path):
    (tmp_path / "kept").mkdir()
    new, file = tmp_path / "samples" / "eval-1", tmp_path / "eval-1.json"
    with pytest.raises(Stopped, match="SIGTERM: the evaluation stopped; nothing of it was kept"):
        with discard_on_failure(new, file, tmp_path / "kept", what="evaluation"):
            new.mkdir(parents=True)
            file.write_text("{}")
            os.kill(os.getpid(), signal.SIGTERM)
    assert not new.exists() and not file.exists() and (tmp_path / "kept").is_dir()
