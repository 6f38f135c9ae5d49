"""``tlgen serve RUN --replicas N``: the same FastAPI app as a Ray Serve deployment.

Each replica is a Ray actor that loads the run through its plugin (``__init__``: once) and
serves :func:`tlgen.serve.create_app` unchanged; Ray's proxy spreads requests over them.
A local Ray instance is started unless ``RAY_ADDRESS`` names a cluster (``ray start --head``
on one machine, ``ray start --address HEAD:6379`` on the others); the run folder must then be
at the same absolute path on every node (a shared filesystem) and tlgen installed there.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from .errors import TlgenError
from .serve import ServeSettings


class Replica:
    """One Ray Serve replica: a run's engine and its app (see ``ray.serve.ingress``)."""

    def __init__(self, run_dir: str, overrides: Sequence[str], threads: int | None,
                 settings: ServeSettings):
        from .engine import Engine

        self.engine = Engine.load(run_dir, overrides, threads=threads)
        self.engine.warm_up()
        # each replica logs to a file of its own, beside the others (tlgen monitor reads all)
        self.settings = replace(settings, log_tag=f"ray-{os.getpid()}")

    def __serve_build_asgi_app__(self):
        from .serve import create_app

        return create_app(self.engine, self.settings)


def start_replicas(run_dir: str | Path, overrides: Sequence[str], threads: int | None,
                   settings: ServeSettings, host: str, port: int, replicas: int) -> str:
    """Deploy ``replicas`` replicas of the run's app behind Ray Serve's HTTP proxy on
    ``host:port``; returns its URL once every replica is ready."""
    try:
        import ray
        from ray import serve
    except ImportError:
        raise TlgenError("--replicas needs Ray Serve: pip install 'tlgen[ray]'") from None
    run_dir = Path(run_dir).resolve()
    if not (run_dir / "config.toml").is_file():
        raise TlgenError(f"{run_dir} is not a tlgen run (no config.toml in it)")
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), log_to_driver=False,
                 include_dashboard=False)
    serve.start(http_options={"host": host, "port": port})
    deployment = serve.deployment(
        serve.ingress()(Replica), name="tlgen", num_replicas=replicas,
        ray_actor_options={"num_cpus": float(threads or 1)},
        max_ongoing_requests=settings.max_pending)
    serve.run(deployment.bind(str(run_dir), list(overrides), threads, settings),
              name="tlgen", route_prefix="/", blocking=False)
    return f"http://{host}:{port}"


def serve_replicas(run_dir: str | Path, overrides: Sequence[str], threads: int | None,
                   settings: ServeSettings, host: str, port: int, replicas: int) -> None:
    """``start_replicas``, then serve until interrupted (Ctrl-C/SIGTERM shut Serve down)."""
    import signal

    from ray import serve

    url = start_replicas(run_dir, overrides, threads, settings, host, port, replicas)
    print(f"serving {Path(run_dir).name} with {replicas} Ray Serve replicas on {url}",
          flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    try:
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    serve.shutdown()
