"""How ``tlgen serve`` turns requests into ``sample`` calls: a micro-batcher that merges
concurrent requests into one call of the run's :class:`~tlgen.engine.Engine`
(:class:`MicroBatcher`).

Seeds: a request with a ``seed`` is one ``sample`` call of its own with ``sample.seed`` set to
it, so the same seed, parameters and ``n`` give the same artefacts every time, on any replica
with the same weights and hardware (and the same as ``run.call("sample")`` with that seed).
Requests without a seed that ask for the same parameters are merged into one call with a
fresh random seed: they are fast, not reproducible. With ``draw_ahead``, unseeded requests at
the server's default parameters are handed artefacts drawn (and scored) ahead of them, from
calls of ``draw_ahead`` artefacts that the sampler makes whenever the stock runs low: under
load it never waits for requests to gather, and draws in calls as large as offline.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

from pydantic import BaseModel

from .engine import Engine, RequestError

STOCK_PART = 32  # artefacts of a draw-ahead call scored and stocked at a time


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
    With an overlapping engine, scoring a batch runs beside drawing the next one. With
    ``draw_ahead`` (and a plugin whose ``sample`` returns exactly ``n``), unseeded requests at
    the default parameters take from a stock that the sampler keeps at ``draw_ahead``
    artefacts or more beyond what waiting requests need (module docstring)."""

    def __init__(self, engine: Engine, max_batch: int = 256, max_wait_ms: float = 50.0,
                 max_pending: int = 1024, metrics=None, draw_ahead: int = 0):
        self.engine, self.max_batch, self.max_wait = engine, max_batch, max_wait_ms / 1000
        self.max_pending, self.metrics = max_pending, metrics
        self.draw_ahead = draw_ahead if engine.exact_n else 0
        self.default = engine.sample_config({})
        self.default_key = self._key(self.default)
        self.stock: deque = deque()  # (artefact, row) drawn ahead, scored, not yet handed out
        self.coming = 0  # artefacts of draw-ahead calls being drawn or scored
        self.drawing = 0  # of those, the ones being drawn
        self.queue: list[Job] = []
        self.in_flight = 0  # artefacts admitted and not yet answered
        self.rate = 0.0  # artefacts per second of the last batch, for Retry-After
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._finishing: set[asyncio.Task] = set()
        self._answered = 0.0  # when the last batch's requests were answered
        self._failed = False  # whether the last draw-ahead call failed

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
            self.metrics.drawn_ahead.set(len(self.stock))

    @staticmethod
    def _key(config: BaseModel) -> str:
        return json.dumps(config.model_dump(mode="json", exclude={"n", "seed"}), sort_keys=True)

    async def submit(self, config: BaseModel, n: int, seed: int | None) -> Served:
        """Draw ``n`` artefacts under ``config`` (``seed``: alone and reproducible)."""
        self.admit(n)
        try:
            job = Job(config, n, seed, asyncio.get_running_loop().create_future(),
                      self._key(config))
            self.queue.append(job)
            self._hand_out()
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

    # ---------------------------------------------------------------- the sampler's loop
    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            for job in [job for job in self.queue if job.future.done()]:  # clients gone
                self.queue.remove(job)
            self._hand_out()
            stocked = [job for job in self.queue if self._stocked(job)]
            others = [job for job in self.queue if not self._stocked(job)]
            # while requests wait, a batch being scored does not count: the sampler draws
            # the next meanwhile; after a failed draw-ahead call, the next is only for a
            # request that waits
            ahead = len(self.stock) + (self.drawing if stocked else self.coming)
            short = self.draw_ahead and (stocked or not self._failed) and (
                ahead - sum(job.n for job in stocked) < self.draw_ahead)
            if short and (not others or (stocked and stocked[0].enqueued <= others[0].enqueued)):
                await self._guarded(self._draw_ahead(), stocked)
                continue
            if not others:
                await self._wake.wait()  # a request, or a draw-ahead call scored
                continue
            first = others[0]
            if first.seed is None and self.engine.exact_n:
                # wait from the later of its arrival and the last answers: clients that were
                # just answered and ask again join this batch instead of forming the next
                since = max(first.enqueued, self._answered)
                left = since + self.max_wait - time.monotonic()
                if left > 0 and self._group(first)[1] < self.max_batch:
                    await asyncio.sleep(left)
            if first.future.done():
                continue
            jobs, _ = self._group(first)
            for job in jobs:
                self.queue.remove(job)
            self._gauge()
            await self._guarded(self._draw(jobs), jobs)

    @staticmethod
    async def _guarded(work, jobs: list[Job]) -> None:
        """Run a draw; its failure answers ``jobs`` (the requests it was for), never the loop."""
        try:
            await work
        except Exception as exc:
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)

    def _stocked(self, job: Job) -> bool:
        """Whether ``job`` is answered from the drawn-ahead stock."""
        return bool(self.draw_ahead) and job.seed is None and job.key == self.default_key

    def _hand_out(self) -> None:
        """Answer the stocked requests that the stock covers, oldest first."""
        for job in [job for job in self.queue if self._stocked(job)]:
            if job.future.done():
                self.queue.remove(job)
                continue
            if len(self.stock) < job.n:
                break
            taken = [self.stock.popleft() for _ in range(job.n)]
            self.queue.remove(job)
            job.future.set_result(Served([a for a, _ in taken], [r for _, r in taken], None,
                                         self.draw_ahead, time.monotonic() - job.enqueued))
        self._gauge()

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

    async def _sample(self, config: BaseModel, n: int) -> tuple[list, float]:
        """``n`` artefacts from the sampling thread, timed into the metrics."""
        started = time.monotonic()
        samples = await self.engine.draw(config, n)
        took = time.monotonic() - started
        self.rate = len(samples) / took if took > 0 else self.rate
        if self.metrics:
            self.metrics.batch_seconds.observe(took)
            self.metrics.batch_items.observe(len(samples))
        return samples, started

    async def _rows(self, config: BaseModel, samples: list) -> list[dict]:
        started = time.monotonic()
        try:
            return await self.engine.score(config, samples)
        finally:
            if self.metrics:
                self.metrics.item_metrics_seconds.observe(time.monotonic() - started)

    def _then(self, scoring) -> asyncio.Task | None:
        """Score beside the next draw (a scoring process), or now (one thread for both)."""
        task = asyncio.get_running_loop().create_task(scoring)
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)
        return task if self.engine.scoring is None else None

    async def _draw_ahead(self) -> None:
        size = self.draw_ahead
        config = self.default.model_copy(update={"seed": secrets.randbits(31)})
        self.coming += size
        self.drawing += size
        try:
            samples, _ = await self._sample(config, size)
        except BaseException:
            self.coming -= size
            self._failed = True
            raise
        finally:
            self.drawing -= size
        if (task := self._then(self._stock_up(config, samples, size))) is not None:
            await task

    async def _stock_up(self, config: BaseModel, samples: list, size: int) -> None:
        """Score a draw-ahead call ``STOCK_PART`` artefacts at a time, each part stocked and
        handed out once scored: a request that found the stock empty waits for the call to
        be drawn and its first part scored, not for the whole call to be scored."""
        left = size
        try:
            for start in range(0, len(samples), STOCK_PART):
                part = samples[start:start + STOCK_PART]
                rows = await self._rows(config, part)
                left -= len(part)
                self.coming -= len(part)
                self.stock.extend(zip(part, rows))
                self._hand_out()
        except Exception as exc:  # the stocked requests waiting for it get its error
            self._failed = True
            for job in [job for job in self.queue if self._stocked(job)]:
                self.queue.remove(job)
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        finally:
            self.coming -= left
            self._wake.set()
        self._failed = False

    async def _draw(self, jobs: list[Job]) -> None:
        seed = jobs[0].seed if jobs[0].seed is not None else secrets.randbits(31)
        config = jobs[0].config.model_copy(update={"seed": seed})
        samples, started = await self._sample(config, sum(job.n for job in jobs))
        if (task := self._then(self._answer(jobs, config, samples, started))) is not None:
            await task

    async def _answer(self, jobs: list[Job], config: BaseModel, samples: list,
                      started: float) -> None:
        """Score a drawn batch and hand each request its share."""
        try:
            rows = await self._rows(config, samples)
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
