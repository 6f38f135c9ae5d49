"""``tlgen serve``: a run as an HTTP service (FastAPI; uvicorn or Ray Serve run it).

Endpoints: ``GET /health``; ``GET /v1/models``; ``POST /v1/generate`` (``n``, ``seed`` and
the plugin's ``[sample]`` parameters, validated by its own schema; artefacts with their
``item_metrics`` rows); ``POST /v1/completions`` (OpenAI's shape, text backbones:
:mod:`tlgen.completions`); ``GET /metrics`` (Prometheus). With an API key every endpoint but
``/health`` needs ``Authorization: Bearer KEY``. A request only ever sets ``[sample]`` keys
(JSON, never a file or a pickle); errors are ``{"error": {"message", "type", "param",
"code"}}``; an exception in one request is its 500, never the server's end.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import secrets
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .batcher import MicroBatcher
from .engine import Engine, RequestError
from .serve_metrics import ServedLog, ServeMetrics


@dataclass
class ServeSettings:
    """The server's limits and options (``tlgen serve --help`` lists them)."""

    api_key: str | None = None
    max_n: int = 256  # artefacts one request may ask for
    max_batch: int = 256  # artefacts in one merged sample call
    max_wait_ms: float = 50.0  # how long a batch waits for company (after its first request
    # or the last answers, whichever is later)
    max_pending: int = 1024  # artefacts in flight before 429
    draw_ahead: int = 0  # artefacts drawn ahead for unseeded requests at the default params
    max_body_bytes: int = 65536
    body_timeout_s: float = 10.0  # a body slower than this gets 408 (slowloris)
    log_dir: str | None = None  # served-artefact log; default RUN/serving/
    log_tag: str | None = None  # file name suffix (a Ray replica's)
    rolling_window: int = 1000


def create_app(engine: Engine, settings: ServeSettings | None = None) -> FastAPI:
    """The ASGI app serving ``engine``'s run; plain FastAPI, so uvicorn runs it and a Ray
    Serve deployment wraps it unchanged."""
    settings = settings or ServeSettings()
    metrics = ServeMetrics(settings.rolling_window)
    log = ServedLog(Path(settings.log_dir or engine.run.dir / "serving"), tag=settings.log_tag)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher = MicroBatcher(engine, settings.max_batch, settings.max_wait_ms,
                               settings.max_pending, metrics, settings.draw_ahead)
        app.state.batcher = batcher
        batcher.start()
        yield
        await batcher.stop()  # uvicorn has drained the connections: answer what is left
        log.close()

    app = FastAPI(title=f"tlgen serve {engine.name}", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.engine, app.state.settings, app.state.metrics, app.state.log = (
        engine, settings, metrics, log)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        """Bearer token, then the request; any failure becomes a JSON error and a count."""
        endpoint = request.url.path
        started = time.monotonic()
        try:
            if settings.api_key and endpoint != "/health":
                check_token(request, settings.api_key)
            response = await call_next(request)
        except RequestError as exc:
            response = error_response(exc)
        except Exception as exc:  # a bug or a plugin failure: this request's 500 only
            response = error_response(RequestError(500, internal_kind(exc),
                                                   f"{type(exc).__name__}: {exc}"))
        if response.status_code >= 400:
            kind = response.headers.get("x-error-kind", f"http_{response.status_code}")
            metrics.errors.labels(kind=kind).inc()
        if endpoint in ROUTES:
            metrics.requests.labels(endpoint=endpoint, status=str(response.status_code)).inc()
            metrics.request_seconds.labels(endpoint=endpoint).observe(time.monotonic() - started)
        return response

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "run": engine.name}

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [engine.describe()]}

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/generate")
    async def generate(request: Request) -> JSONResponse:
        started = time.monotonic()
        body = await read_json(request, settings)
        params = dict(body)
        n = params.get("n", 1)
        check_n(n, settings.max_n)
        seed = params.pop("seed", None)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or
                                 not 0 <= seed < 2**63):
            raise RequestError(422, "invalid_parameter", "seed: an integer in [0, 2^63)", "seed")
        config = engine.sample_config(params)
        served = await request.app.state.batcher.submit(config, n, seed)
        latency = time.monotonic() - started
        request_id = f"gen-{uuid.uuid4().hex}"
        shown = config.model_dump(mode="json")
        shown["seed"] = seed
        artefacts = [encode(item) for item in served.samples]
        log.write(request_id, shown, seed, [a if isinstance(a, str) else None for a in artefacts],
                  served.rows, latency, time.time())
        metrics.items.labels(endpoint="/v1/generate").inc(len(artefacts))
        metrics.queue_seconds.observe(served.queue_s)
        metrics.observe_rows(served.rows)
        return JSONResponse({
            "id": request_id, "object": "generation", "model": engine.name,
            "created": int(time.time()), "params": shown, "seed": seed,
            "batch_items": served.batch_items, "latency_s": round(latency, 6),
            "items": [{"artefact": a, "metrics": jsonable(row)}
                      for a, row in zip(artefacts, served.rows)]})

    if engine.is_text:
        from .completions import add_completions

        add_completions(app, engine, settings, metrics)
    return app


ROUTES = ("/health", "/v1/models", "/metrics", "/v1/generate", "/v1/completions")


def check_token(request: Request, key: str) -> None:
    """401 unless the request carries ``Authorization: Bearer <key>`` (constant-time)."""
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(),
                                                                key.encode()):
        raise RequestError(401, "unauthorized", "missing or wrong bearer token "
                           "(Authorization: Bearer KEY)", "authorization",
                           {"WWW-Authenticate": "Bearer"})


def check_n(n: Any, cap: int, name: str = "n") -> None:
    if not isinstance(n, int) or isinstance(n, bool):
        raise RequestError(422, "invalid_parameter", f"{name}: an integer", name)
    if not 1 <= n <= cap:
        raise RequestError(422, "invalid_parameter", f"{name}: between 1 and {cap} "
                           f"(the server's cap), got {n}", name)


async def read_json(request: Request, settings: ServeSettings) -> dict[str, Any]:
    """The request's JSON object, read within ``max_body_bytes`` (413) and
    ``body_timeout_s`` (408); anything but a JSON object is a 400."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
        raise RequestError(413, "body_too_large", f"body of {declared} bytes; the cap is "
                           f"{settings.max_body_bytes}", "body")

    async def collect() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_body_bytes:
                raise RequestError(413, "body_too_large", f"body over the cap of "
                                   f"{settings.max_body_bytes} bytes", "body")
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        raw = await asyncio.wait_for(collect(), settings.body_timeout_s)
    except TimeoutError:
        raise RequestError(408, "body_timeout", f"the body did not arrive within "
                           f"{settings.body_timeout_s:g} s", "body") from None
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, "invalid_json", f"body is not JSON ({exc})", "body") from None
    if not isinstance(body, dict):
        raise RequestError(400, "invalid_json", "body must be a JSON object", "body")
    return body


def error_response(exc: RequestError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status,
                        headers={**exc.headers, "x-error-kind": exc.kind})


def internal_kind(exc: Exception) -> str:
    from .errors import PluginError

    return "plugin_error" if isinstance(exc, PluginError) else "internal_error"


def encode(artefact: Any) -> Any:
    """An artefact as JSON: text as is; an image as base64 PNG; numbers and lists as such."""
    if isinstance(artefact, (str, int, float, bool)) or artefact is None:
        return artefact
    if hasattr(artefact, "save") and hasattr(artefact, "size"):  # a PIL image
        buffer = io.BytesIO()
        artefact.save(buffer, format="PNG")
        return {"png_base64": base64.b64encode(buffer.getvalue()).decode()}
    if isinstance(artefact, dict):
        return {str(k): encode(v) for k, v in artefact.items()}
    if isinstance(artefact, (list, tuple)):
        return [encode(v) for v in artefact]
    return jsonable(artefact)


def jsonable(value: Any) -> Any:
    """Metric rows as plain JSON: numpy scalars as numbers, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None
