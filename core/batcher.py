"""What ``tlgen serve`` runs requests on: a run's trained backbone loaded once through its
plugin (:class:`Engine`), and a micro-batcher that merges concurrent requests into one
``sample`` call (:class:`MicroBatcher`).

Seeds: a request with a ``seed`` is one ``sample`` call of its own with ``sample.seed`` set to
it, so the same seed, parameters and ``n`` give the same artefacts every time, on any replica
with the same weights and hardware (and the same as ``run.call("sample")`` with that seed).
Requests without a seed that ask for the same parameters are merged into one call with a
fresh random seed: they are fast, not reproducible.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ValidationError

from .errors import TlgenError

STAGE = "serve"  # the stage name the plugin's hooks see for served samples


class RequestError(Exception):
    """A request the server refuses: HTTP ``status``, an error ``kind`` and the ``param`` at
    fault (OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``)."""

    def __init__(self, status: int, kind: str, message: str, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.kind, self.param, self.headers = status, kind, param, headers or {}

    def body(self) -> dict:
        return {"error": {"message": str(self), "type": self.kind, "param": self.param,
                          "code": self.status}}


class Engine:
    """A run opened for serving: its trained backbone and data, loaded once through the
    plugin's own hooks. Plugin calls run on a worker thread (``overlap``: two, one drawing
    and one scoring), each on a shallow copy of the run whose ``[sample]`` section is the
    request's."""

    def __init__(self, run, backbone, data, overlap: bool = False):
        self.run, self.backbone, self.data = run, backbone, data
        self.sampler = ThreadPoolExecutor(1, thread_name_prefix="tlgen-sample")
        self.scorer = (ThreadPoolExecutor(1, thread_name_prefix="tlgen-score") if overlap
                       else self.sampler)
        self.exact_n = True  # whether `sample` returns exactly n artefacts (see warm_up)
        self.has_item_metrics = bool(
            getattr(run.hooks, "item_metrics").get_hookimpls())

    @classmethod
    def load(cls, run_dir: str | Path, overrides: Sequence[str] = (),
             extra_plugins: Sequence[object] = (), threads: int | None = None,
             overlap: bool = False) -> Engine:
        """Open ``run_dir`` (``overrides`` for this session only, e.g. ``sample.temperature``
        as the default of requests) and load its trained backbone and data."""
        import torch

        from .run import Run

        if threads:
            torch.set_num_threads(threads)
        run = Run.open(run_dir, extra_plugins, overrides)
        backbone = run.load_trained()
        data = run.call("prepare_data", backbone=backbone)
        return cls(run, backbone, data, overlap)

    # ---------------------------------------------------------------- requests
    def sample_config(self, params: dict[str, Any]) -> BaseModel:
        """The run's ``[sample]`` section with a request's parameters, validated by the
        plugin's own schema (JSON-strict: ``"5"`` is not an int); an unknown or bad one is a
        422 naming it."""
        base = self.run.config.sample
        merged = {**base.model_dump(mode="json"), **params}
        try:
            return type(base).model_validate_json(json.dumps(merged), strict=True)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = ".".join(str(p) for p in err["loc"])
            message = ("unknown parameter" if err["type"] == "extra_forbidden" else err["msg"])
            raise RequestError(422, "invalid_parameter", f"{name}: {message}", name) from None

    def _run_with(self, config: BaseModel):
        """A shallow copy of the run whose ``[sample]`` is ``config`` (state, hooks and folder
        shared): what hooks read as ``run.config.sample`` for one call."""
        view = copy.copy(self.run)
        view.config = self.run.config.model_copy(update={"sample": config})
        return view

    def sample(self, config: BaseModel, n: int) -> list:
        """``n`` artefacts from the plugin's ``sample`` hook under ``config``."""
        import torch

        with torch.inference_mode():
            return self._run_with(config).call("sample", backbone=self.backbone,
                                               data=self.data, n=n, stage=STAGE)

    def item_metrics(self, config: BaseModel, samples: list) -> list[dict]:
        """One row of per-artefact metrics each (empty rows where the plugin has none)."""
        rows = self._run_with(config).call("item_metrics", backbone=self.backbone,
                                           data=self.data, samples=samples, stage=STAGE)
        if rows is None:
            return [{} for _ in samples]
        if len(rows) != len(samples):
            raise TlgenError(f"plugin {self.run.plugin!r}: item_metrics gave {len(rows)} rows "
                             f"for {len(samples)} samples")
        return rows

    def warm_up(self) -> None:
        """Draw and score two artefacts once: the plugin builds its references now rather
        than in the first request, and we learn whether ``sample`` returns exactly ``n`` (a
        plugin that adds a fixed set of its own cannot share a call between requests)."""
        config = self.sample_config({})
        samples = self.sample(config, 2)
        self.exact_n = len(samples) == 2
        self.item_metrics(config, samples)

    def describe(self) -> dict[str, Any]:
        """The run as ``/v1/models`` shows it: plugin, base model, adapters."""
        model = self.backbone.model
        adapters = sorted(getattr(model, "peft_config", {}) or {})
        return {"id": self.name, "object": "model", "owned_by": "tlgen",
                "created": int(self.run.dir.stat().st_mtime),
                "plugin": self.run.plugin, "run_dir": str(self.run.dir),
                "base_model": self.backbone.name, "adapters": adapters,
                "freeze": self.run.config.freeze.strategy,
                "sample_defaults": self.run.config.sample.model_dump(mode="json"),
                "item_metrics": self.has_item_metrics}

    @property
    def is_text(self) -> bool:
        """A causal LM with a tokenizer: what ``/v1/completions`` serves."""
        return self.backbone.tokenizer is not None and hasattr(self.backbone.model, "generate")

    @property
    def name(self) -> str:
        return self.run.dir.resolve().name

    def close(self) -> None:
        self.sampler.shutdown(wait=True)
        if self.scorer is not self.sampler:
            self.scorer.shutdown(wait=True)


@dataclass
class Job:
    config: BaseModel
    n: int
    seed: int | None
    future: asyncio.Future
    key: str
    enqueued: float = field(default_factory=time.monotonic)


@dataclass
class Served:
    """One request's answer: artefacts, their metric rows, and how it was drawn."""

    samples: list
    rows: list[dict]
    seed: int | None
    batch_items: int
    queue_s: float


class MicroBatcher:
    """Merges concurrent requests of the same parameters into one ``sample`` call of at most
    ``max_batch`` artefacts, waiting at most ``max_wait_ms`` after the first (or after the last
    answers: closed-loop clients then join one batch instead of alternating in two); refuses work
    beyond ``max_pending`` artefacts in flight (429 with Retry-After) instead of queueing it.
    With an overlapping engine, scoring a batch runs beside drawing the next one."""

    def __init__(self, engine: Engine, max_batch: int = 256, max_wait_ms: float = 50.0,
                 max_pending: int = 1024, metrics=None):
        self.engine, self.max_batch, self.max_wait = engine, max_batch, max_wait_ms / 1000
        self.max_pending, self.metrics = max_pending, metrics
        self.queue: list[Job] = []
        self.in_flight = 0  # artefacts admitted and not yet answered
        self.rate = 0.0  # artefacts per second of the last batch, for Retry-After
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._finishing: set[asyncio.Task] = set()
        self._answered = 0.0  # when the last batch's requests were answered

    def admit(self, n: int) -> None:
        """Count ``n`` artefacts as in flight, or refuse with 429 when that would pass the cap."""
        if self.in_flight + n > self.max_pending:
            wait = math.ceil((self.in_flight + n) / self.rate) if self.rate else 1
            raise RequestError(429, "overloaded", f"the server has {self.in_flight} artefacts "
                               f"in flight (cap {self.max_pending}); retry later", None,
                               {"Retry-After": str(max(1, min(wait, 60)))})
        self.in_flight += n
        self._gauge()

    def release(self, n: int) -> None:
        self.in_flight -= n
        self._gauge()

    def _gauge(self) -> None:
        if self.metrics:
            self.metrics.queue_depth.set(sum(job.n for job in self.queue))
            self.metrics.in_flight.set(self.in_flight)

    async def submit(self, config: BaseModel, n: int, seed: int | None) -> Served:
        """Draw ``n`` artefacts under ``config`` (``seed``: alone and reproducible)."""
        self.admit(n)
        try:
            key = json.dumps(config.model_dump(mode="json", exclude={"n", "seed"}),
                             sort_keys=True)
            job = Job(config, n, seed, asyncio.get_running_loop().create_future(), key)
            self.queue.append(job)
            self._gauge()
            self._wake.set()
            return await job.future
        finally:
            self.release(n)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Answer what is queued, then stop (the server's graceful shutdown)."""
        while self.queue or self._finishing:
            await asyncio.sleep(0.01)
        if self._task:
            self._task.cancel()

    async def _loop(self) -> None:
        while True:
            if not self.queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            first = self.queue[0]
            if first.seed is None and self.engine.exact_n:
                # wait from the later of its arrival and the last answers: clients that were
                # just answered and ask again join this batch instead of forming the next
                since = max(first.enqueued, self._answered)
                left = since + self.max_wait - time.monotonic()
                if left > 0 and self._group(first)[1] < self.max_batch:
                    await asyncio.sleep(left)
            jobs = self._take(first)
            if not jobs:
                continue
            try:
                await self._draw(jobs)
            except Exception as exc:  # one bad batch answers its requests, never the loop
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)

    def _group(self, first: Job) -> tuple[list[Job], int]:
        """The queued jobs that can share ``first``'s call, up to ``max_batch`` artefacts."""
        if first.seed is not None or not self.engine.exact_n:
            return [first], first.n
        jobs, total = [], 0
        for job in self.queue:
            if job.seed is None and job.key == first.key and (
                    not jobs or total + job.n <= self.max_batch):
                jobs.append(job)
                total += job.n
        return jobs, total

    def _take(self, first: Job) -> list[Job]:
        for job in [job for job in self.queue if job.future.done()]:  # clients gone
            self.queue.remove(job)
        if first.future.done():
            return []
        jobs, _ = self._group(first)
        for job in jobs:
            self.queue.remove(job)
        self._gauge()
        return jobs

    async def _draw(self, jobs: list[Job]) -> None:
        loop, engine = asyncio.get_running_loop(), self.engine
        seed = jobs[0].seed if jobs[0].seed is not None else secrets.randbits(31)
        config = jobs[0].config.model_copy(update={"seed": seed})
        total = sum(job.n for job in jobs)
        started = time.monotonic()
        samples = await loop.run_in_executor(engine.sampler, engine.sample, config, total)
        took = time.monotonic() - started
        self.rate = total / took if took > 0 else self.rate
        if self.metrics:
            self.metrics.batch_seconds.observe(took)
            self.metrics.batch_items.observe(total)
        if engine.scorer is engine.sampler:  # one thread: answer before the next draw
            await self._score(jobs, config, samples, started)
            return
        task = loop.create_task(self._score(jobs, config, samples, started))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def _score(self, jobs: list[Job], config: BaseModel, samples: list,
                     started: float) -> None:
        """Score a drawn batch on the scoring thread and hand each request its share."""
        loop, engine = asyncio.get_running_loop(), self.engine
        try:
            t0 = time.monotonic()
            rows = await loop.run_in_executor(engine.scorer, engine.item_metrics, config,
                                              samples)
            if self.metrics:
                self.metrics.item_metrics_seconds.observe(time.monotonic() - t0)
        except Exception as exc:
            for job in jobs:
                if not job.future.done():  # done: its client went away
                    job.future.set_exception(exc)
            return
        finally:
            self._answered = time.monotonic()
        total = sum(job.n for job in jobs)
        start = 0
        for job in jobs:
            # a plugin that returns other than n (exact_n False) runs one request per call
            end = start + job.n if len(jobs) > 1 or len(samples) == total else len(samples)
            if not job.future.done():
                job.future.set_result(Served(samples[start:end], rows[start:end], job.seed,
                                             len(samples), started - job.enqueued))
            start = end
