"""What keeps a run folder true to what happened: one process at a time writes it, a resume
changes nothing until it is known to be possible, a foreign or incomplete checkpoint is
refused, a torn last line of metrics.jsonl is dropped, and a signal before training
says what is left. Small functions, called from ``Run`` and the trainer."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Iterator

from .errors import StopTraining, TlgenError
from .files import short

_HELD: dict[Path, list] = {}  # folder -> [fd, depth]: this process's locks (flock is per open file)


class FolderInUse(TlgenError):
    """Another process holds the run folder's lock."""


class RunLock:
    """An exclusive lock on a run folder (``flock`` on the folder itself, so no file is
    added to it) while a run or a resume writes there; a second process is refused with
    one line. Re-entrant within a process; only the main process of a distributed run
    (``RANK`` 0) takes it."""

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir).absolute()

    def __enter__(self) -> RunLock:
        if os.environ.get("RANK", "0") != "0":
            return self
        held = _HELD.get(self.dir)
        if held:
            held[1] += 1
            return self
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FolderInUse(f"run folder {self.dir} is in use by another tlgen process "
                                 "(a run or a resume of it is still going); wait for it to end "
                                 "or stop it, then try again") from None
            return self  # a file system without flock: go on unlocked, as before
        _HELD[self.dir] = [fd, 1]
        return self

    def __exit__(self, *exc) -> None:
        held = _HELD.get(self.dir)
        if held is None:
            return
        held[1] -= 1
        if held[1] == 0:
            del _HELD[self.dir]
            os.close(held[0])  # closing the descriptor releases the lock


# ------------------------------------------------------------------ metrics.jsonl
def read_metrics_log(path: Path) -> tuple[list[str], str | None]:
    """The lines of metrics.jsonl (without blank ones) and a note when a torn last line, as
    a crash mid-write leaves, was dropped; any other unreadable line names the file."""
    if not path.is_file():
        return [], None
    numbered = [(n, line) for n, line in enumerate(
        path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1) if line.strip()]
    lines = [line for _, line in numbered]
    for i, (number, line) in enumerate(numbered):
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                raise ValueError("no integer 'step'")
        except ValueError as exc:
            if i == len(numbered) - 1:
                return lines[:-1], (f"{path}: dropped a torn last line ({short(line)}), as a "
                                    "crash while writing leaves")
            raise TlgenError(f"{path}, line {number}: not a metrics record ({short(str(exc))}); "
                             "fix or delete that line") from None
    return lines, None


def cut_metrics_log(path: Path, step: int, log=print) -> None:
    """Keep the records up to ``step`` (later steps will be redone), saying when a torn
    last line was dropped."""
    lines, note = read_metrics_log(path)
    if note:
        log(note)
    if path.is_file():
        kept = [line for line in lines if json.loads(line)["step"] <= step]
        path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


# ------------------------------------------------------------------ checkpoints
def latest_checkpoint(run_dir: Path) -> Path | None:
    """The run's newest checkpoint (checkpoints.py, imported here only: it brings torch)."""
    from .checkpoints import latest_checkpoint as latest

    return latest(Path(run_dir) / "checkpoints")


def check_resumable(run_dir: str | Path, config=None) -> Path | None:
    """Before a resume writes anything: the last checkpoint (None: none yet, training starts
    over) is complete and readable, lies within the (new) ``max_steps`` of ``config``, and
    metrics.jsonl can be read."""
    run_dir = Path(run_dir)
    last = latest_checkpoint(run_dir)
    if last is not None and config is not None:
        key = "reward" if config.train.mode == "reward" else "train"
        steps, done = getattr(config, key).max_steps, int(last.name.split("-")[1])
        if steps < done:
            raise TlgenError(f"--resume: {key}.max_steps {steps} is below the {done} steps "
                             f"already trained ({last.name}); give at least {done}")
    if last is not None:
        from .checkpoints import WEIGHTS, weight_shapes

        weight_shapes(last / WEIGHTS)
    read_metrics_log(run_dir / "metrics.jsonl")
    return last


def confirm_resume(run, model) -> None:
    """When a run resumes: refuse a checkpoint that is not this model's, then (only then)
    write what the resume changed to config.toml and resumes.log."""
    if not (run.dir / "config.toml").is_file() or not run.is_main:
        return
    last = latest_checkpoint(run.dir)
    if last is not None:
        from .checkpoints import WEIGHTS, check_weights_match

        check_weights_match(model, last / WEIGHTS)
    pending = getattr(run, "resume_record", None)
    if pending:
        config_text, line = pending
        tmp = run.dir / ".config.toml.tmp"  # replaced in one step: a reader never sees half
        tmp.write_text(config_text, encoding="utf-8")
        os.replace(tmp, run.dir / "config.toml")
        with open(run.dir / "resumes.log", "a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} resumed with {line}\n")
        run.log(f"resuming with {line} (recorded in config.toml and resumes.log)")
        run.resume_record = None


def check_plugin_unchanged(saved: str, overrides) -> None:
    """``--resume --set plugin=...`` is another run, whatever the new plugin's keys."""
    for assignment in overrides:
        key, _, value = assignment.partition("=")
        if key.strip() == "plugin" and value.strip().strip("'\"") != saved:
            raise TlgenError(f"--resume cannot change the plugin (this run is {saved!r}): it "
                             "would be another run; start a new run with --plugin instead")


# ------------------------------------------------------------------ signals
class Stopped(KeyboardInterrupt):
    """SIGINT/SIGTERM outside the training loop, with what it left and the exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@contextlib.contextmanager
def on_signals(handler) -> Iterator[None]:
    """``handler`` for SIGINT and SIGTERM inside the block (the previous ones restored
    after); nothing in a thread other than the main one, where Python allows no handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from tqdm.auto import tqdm

    tqdm.get_lock()  # made now: an exception raised while tqdm builds it breaks tqdm itself
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@contextlib.contextmanager
def signals_stop() -> Iterator[None]:
    """SIGTERM (and SIGINT) raise KeyboardInterrupt at once outside the trainer's own
    handling, so a run killed while it prepares data or samples cleans up like a failed
    start instead of dying with its folder half-made."""
    def stop(signum, frame):
        raise Stopped("", 128 + signum)

    with on_signals(stop):
        yield


def explain_stop(exc: BaseException, run_dir: Path, removed: bool) -> None:
    """Re-raise a bare Ctrl-C/SIGTERM as a Stopped that says what is true of the run folder:
    removed (start again), or which checkpoint ``--resume`` continues from. Other exceptions,
    and the trainer's own messages, pass (the caller re-raises them)."""
    if type(exc) not in (KeyboardInterrupt, Stopped) or str(exc):
        return  # not a signal, or one the trainer already explained
    code = getattr(exc, "exit_code", 130)
    name = signal.Signals(code - 128).name if code > 128 else "SIGINT"
    last = latest_checkpoint(run_dir) if run_dir.is_dir() else None
    if removed or not run_dir.is_dir():
        text = (f"{name} before training started: nothing to resume, the run folder was "
                "removed; start the run again")
    elif last is None:
        text = (f"{name} before the first checkpoint: nothing new was saved; `tlgen run "
                f"--resume {run_dir}` starts training from the beginning")
    else:
        text = (f"{name}: stopped; the last checkpoint is {last.name}; `tlgen run --resume "
                f"{run_dir}` continues from it")
    raise Stopped(text, code) from None


def remove_new_run(run_dir: Path, exc: BaseException) -> bool:
    """Remove a new run's folder that holds no checkpoint after ``exc`` (a failed start);
    True if removed. A plugin's StopTraining keeps it, and so does a refused lock (the
    folder is another process's)."""
    if isinstance(exc, (StopTraining, FolderInUse)):
        return False
    if run_dir.is_dir() and not (run_dir / "checkpoints").is_dir():
        shutil.rmtree(run_dir, ignore_errors=True)
        return True
    return False


@contextlib.contextmanager
def discard_on_failure(*paths: Path, what: str = "command") -> Iterator[None]:
    """For commands that add to a finished run (``tlgen evaluate``): if the block fails or a
    signal stops it, remove the ``paths`` it was writing, so no partial result is left that
    looks like one that happened; a bare stop says so."""
    existed = [p.exists() for p in paths]
    try:
        with signals_stop():
            yield
    except BaseException as exc:
        for path in (p for p, was in zip(paths, existed) if not was):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        if type(exc) in (KeyboardInterrupt, Stopped) and not str(exc):
            code = getattr(exc, "exit_code", 130)
            raise Stopped(f"{signal.Signals(code - 128).name}: the {what} stopped; nothing of "
                          "it was kept", code) from None
        raise
