"""``tlgen serve`` and ``tlgen monitor``: click commands (the server's libraries are imported
inside them, so ``tlgen --help`` stays instant)."""

from __future__ import annotations

import ipaddress
import signal
import sys

import click

from .cli import _one_line_errors
from .errors import TlgenError


def _needs(extra: str, *modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise TlgenError(f"this command needs {', '.join(missing)}: pip install 'tlgen[{extra}]'")


@click.command()
@click.argument("run_dir", type=click.Path())
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (loopback by default; 0.0.0.0 exposes it: set an API key).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--api-key", envvar="TLGEN_API_KEY", help="Bearer token every endpoint but "
              "/health requires (or the TLGEN_API_KEY environment variable).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override the run's config for this server, e.g. --set sample.temperature=0.8 "
                   "(the default of requests).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where to sample.")
@click.option("--threads", type=click.IntRange(min=1), help="torch threads.")
@click.option("--max-n", default=256, show_default=True, type=click.IntRange(min=1),
              help="Artefacts one request may ask for.")
@click.option("--max-batch", default=256, show_default=True, type=click.IntRange(min=1),
              help="Artefacts in one merged sample call.")
@click.option("--max-wait-ms", default=50.0, show_default=True, type=click.FloatRange(min=0),
              help="How long a batch waits for more requests after its first (or after the "
                   "last answers, whichever is later).")
@click.option("--max-pending", default=1024, show_default=True, type=click.IntRange(min=1),
              help="Artefacts in flight before requests get 429 + Retry-After.")
@click.option("--max-body-bytes", default=65536, show_default=True, type=click.IntRange(min=64))
@click.option("--log-dir", type=click.Path(), help="Served-artefact log folder "
              "(default RUN/serving/).")
@click.option("--overlap-scoring/--no-overlap-scoring", default=False, show_default=True,
              help="Score batches (item_metrics) in a forked process of their own while the "
                   "next is drawn (a second core for Python-heavy scoring such as RDKit's).")
@click.option("--sample-process/--no-sample-process", default=False, show_default=True,
              help="Draw (sample) in a process of its own, which opens the run again: a "
                   "sampling thread shares the GIL with the event loop and waits for it at "
                   "every torch call.")
@click.option("--draw-ahead", default=0, show_default=True, type=click.IntRange(min=0),
              help="Keep this many artefacts drawn and scored ahead at the run's sample "
                   "settings, for unseeded requests that ask for those: the sampler then draws "
                   "calls this large back to back under load (0: draw on request only).")
@click.option("--replicas", default=0, type=click.IntRange(min=0), help="Run N replicas as a "
              "Ray Serve deployment (pip install 'tlgen[ray]'; RAY_ADDRESS joins a cluster).")
@_one_line_errors
def serve(run_dir, host, port, api_key, overrides, device, threads, max_n, max_batch,
          max_wait_ms, max_pending, max_body_bytes, log_dir, overlap_scoring, sample_process,
          draw_ahead, replicas):
    """Serve a run's fine-tuned model over HTTP: /v1/generate, /v1/completions, /metrics.

    \b
    Examples:
      tlgen serve runs/20261122-101500-molecules
      TLGEN_API_KEY=secret tlgen serve runs/20261122-101500-molecules --host 0.0.0.0
      curl -s localhost:8000/v1/generate -d '{"n": 4, "temperature": 0.9}'
    """
    from .serve import ServeSettings

    _needs("serve", "fastapi", "uvicorn", "prometheus_client")
    if max_batch < max_n:
        max_batch = max_n  # a request is never split across calls
    if not _loopback(host) and not api_key:
        click.echo(f"Warning: serving on {host} without an API key: anyone who reaches this "
                   "port can use it (set --api-key or TLGEN_API_KEY)", err=True)
    settings = ServeSettings(api_key=api_key, max_n=max_n, max_batch=max_batch,
                             max_wait_ms=max_wait_ms, max_pending=max_pending,
                             max_body_bytes=max_body_bytes, log_dir=log_dir,
                             draw_ahead=draw_ahead)
    flags = list(overrides) + ([f"train.device={device!r}"] if device else [])
    if replicas:
        if sample_process or overlap_scoring:
            raise TlgenError("--sample-process and --overlap-scoring serve one process; with "
                             "--replicas each Ray replica samples and scores on its own thread")
        from .ray_serve import serve_replicas

        serve_replicas(run_dir, flags, threads, settings, host, port, replicas)
        return
    import uvicorn

    from .engine import Engine
    from .serve import create_app

    engine = Engine.load(run_dir, flags, threads=threads, overlap=overlap_scoring,
                         sample_process=sample_process)
    engine.warm_up()
    app = create_app(engine, settings)
    click.echo(f"serving {engine.name} ({engine.run.plugin}) on http://{host}:{port} "
               f"(/v1/generate{', /v1/completions' if engine.is_text else ''}, /metrics); "
               f"log: {app.state.log.path}", err=True)
    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal to the handler
    # that was there before it: this one makes that a clean exit 0 (a deliberate stop)
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=5,
                timeout_graceful_shutdown=60, limit_concurrency=max_pending + 64,
                h11_max_incomplete_event_size=16384)
    engine.close()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.argument("logs", type=click.Path())
@click.option("--reference", "-r", "run_dir", required=True, type=click.Path(),
              help="The served run: its 'after' samples are what drift is tested against.")
@click.option("--window", default=200, show_default=True, type=click.IntRange(min=10),
              help="Artefacts per window (every window the same size; the rest waits).")
@click.option("--alpha", default=0.05, show_default=True, type=click.FloatRange(0, 1),
              help="p-value under which a metric has drifted (Evidently's default).")
@click.option("--drift-share", default=0.5, show_default=True, type=click.FloatRange(0, 1),
              help="Share of drifted metrics that flags a window (Evidently's default).")
@click.option("--reference-n", type=click.IntRange(min=10),
              help="Reference samples to draw when the run has none stored (default sample.n).")
@click.option("--out", type=click.Path(), help="Report path (default LOGS/monitor.html).")
@click.option("--threads", type=click.IntRange(min=1), help="torch threads.")
@_one_line_errors
def monitor(logs, run_dir, window, alpha, drift_share, reference_n, out, threads):
    """Test served artefacts for drift against the run; write monitor.html.

    Exit code 0: no window drifted; 1: drift (for cron and CI).

    \b
    Example:
      tlgen monitor runs/20261122-101500-molecules/serving -r runs/20261122-101500-molecules
    """
    _needs("serve", "scipy", "fastapi")
    from .monitor import run_monitor

    verdict = run_monitor(logs, run_dir, window, alpha, drift_share, reference_n, out, threads)
    click.echo(verdict.line)
    sys.exit(1 if verdict.drift else 0)
