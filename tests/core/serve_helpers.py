"""Shared by the serve and monitor tests: a trained text run and a real uvicorn server on a
free 127.0.0.1 port, in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

TEXTLM = str(Path(__file__).with_name("textlm_plugin.py"))


def train_text_run(folder: Path, *overrides: str):
    """A short textlm run (30 steps, no 'before' stage) with checkpoints in ``folder``."""
    from tlgen import Run

    run = Run.create(TEXTLM, overrides=["train.threads=1", "before=false", *overrides],
                     output_dir=folder, device="cpu")
    run.execute()
    return run.dir


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1:<free port> until ``stop``."""

    def __init__(self, app, **config):
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **config))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
