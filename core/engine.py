"""A run opened for serving (:class:`Engine`): its trained backbone and data loaded once
through the plugin's own hooks, the ``sample`` and ``item_metrics`` calls that ``tlgen serve``
makes, and where they run (a sampling thread; with ``overlap``, scoring in a process of its
own, so that RDKit-style Python scoring does not hold the sampler's GIL; with
``sample_process``, ``sample`` calls in a process of their own, so that the event loop's
Python does not hold it either).
"""

from __future__ import annotations

import asyncio
import copy
import json
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ValidationError

from .errors import PluginError, TlgenError

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
    plugin's own hooks. ``sample`` runs on one worker thread (``sampler``); ``item_metrics``
    on the same thread, or with ``overlap`` in a forked scoring process (``scoring``, started
    by :meth:`warm_up`, which it inherits the loaded run and its caches from), so that a
    batch is scored while the next one is drawn. With ``sample_process`` (:meth:`load`),
    :meth:`draw` runs ``sample`` in a spawned process that opens the run itself with the same
    :meth:`load` (started by :meth:`warm_up`): a sampler thread shares the GIL with the event
    loop, and every torch call of its decoding loop gives the GIL up and waits to get it back
    (``benchmarks/sampler_gil.py``: a thread drawing 388 SMILES/s drew 296 beside a thread
    running Python a third of the time). Each call sees a shallow copy of the run whose
    ``[sample]`` section is the request's and which writes no sample files."""

    def __init__(self, run, backbone, data, overlap: bool = False,
                 source: tuple | None = None):
        self.run, self.backbone, self.data = run, backbone, data
        self.sampler = ThreadPoolExecutor(1, thread_name_prefix="tlgen-sample")
        self.overlap = overlap
        self.scoring: ProcessPoolExecutor | None = None  # the scoring process (warm_up)
        # (run_dir, overrides, threads) a sampling process opens, or None: sample on the thread
        self.source = source
        self.sampling: ProcessPoolExecutor | None = None  # the sampling process (warm_up)
        self.exact_n = True  # whether `sample` returns exactly n artefacts (see warm_up)
        self.has_item_metrics = bool(
            getattr(run.hooks, "item_metrics").get_hookimpls())

    @classmethod
    def load(cls, run_dir: str | Path, overrides: Sequence[str] = (),
             extra_plugins: Sequence[object] = (), threads: int | None = None,
             overlap: bool = False, sample_process: bool = False) -> Engine:
        """Open ``run_dir`` (``overrides`` for this session only, e.g. ``sample.temperature``
        as the default of requests) and load its trained backbone and data
        (``sample_process``: draw in a process of its own, see the class)."""
        import torch

        from .run import Run

        if sample_process and extra_plugins:
            raise TlgenError("a sampling process opens the run again and finds only installed "
                             "plugins (entry points), not ones passed in: sample on the thread")
        if threads:
            torch.set_num_threads(threads)
        run = Run.open(run_dir, extra_plugins, overrides)
        backbone = run.load_trained()
        data = run.call("prepare_data", backbone=backbone)
        source = (str(run_dir), list(overrides), threads) if sample_process else None
        return cls(run, backbone, data, overlap, source)

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
        shared) and that keeps no sample files: what hooks read as ``run`` for one call."""
        view = copy.copy(self.run)
        view.writes_samples = False
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

    async def draw(self, config: BaseModel, n: int) -> list:
        """:meth:`sample` off the event loop: in the sampling process where there is one,
        else on the sampling thread (:meth:`_off_loop`)."""
        return await self._off_loop("sampling", "drawing", "sample", config, n)

    async def score(self, config: BaseModel, samples: list) -> list[dict]:
        """:meth:`item_metrics` off the event loop: in the scoring process with ``overlap``,
        else on the sampling thread (:meth:`_off_loop`)."""
        return await self._off_loop("scoring", "scoring", "item_metrics", config, samples)

    async def _off_loop(self, process: str, work: str, method: str, config: BaseModel,
                        arg: Any) -> Any:
        """``self.<method>(config, arg)`` in the process pool ``self.<process>`` (the config
        travels as JSON, a failure back as text), or on the sampling thread where there is
        none. A process that died is not replaced: the work goes back to the thread."""
        pool = getattr(self, process)
        if pool is None:
            return await asyncio.get_running_loop().run_in_executor(
                self.sampler, getattr(self, method), config, arg)
        try:
            result = await asyncio.wrap_future(pool.submit(
                _in_child, method, config.model_dump(mode="json"), arg))
        except BrokenProcessPool:
            setattr(self, process, None)
            raise PluginError(f"the {process} process died; {work} goes on in the server's "
                              "sampling thread") from None
        return _answer(result, process)

    def warm_up(self) -> None:
        """Draw and score two artefacts once: the plugin builds its references now rather
        than in the first request, and we learn whether ``sample`` returns exactly ``n`` (a
        plugin that adds a fixed set of its own cannot share a call between requests). With
        ``overlap``, then fork the scoring process, which inherits what was built; with
        ``sample_process``, spawn the sampling process and have it draw two as well."""
        config = self.sample_config({})
        samples = self.sample(config, 2)
        self.exact_n = len(samples) == 2
        self.item_metrics(config, samples)
        if self.overlap and self.scoring is None:
            self.scoring = ProcessPoolExecutor(1, multiprocessing.get_context("fork"),
                                               initializer=_adopt, initargs=(self,))
            self.scoring.submit(int).result()  # fork now, before the server starts threads
        if self.source and self.sampling is None:
            # spawned, not forked: a fork of a process whose torch has run OpenMP threads can
            # hang in its first parallel region; the child opens the run as this one did
            self.sampling = ProcessPoolExecutor(1, multiprocessing.get_context("spawn"),
                                                initializer=_open_sampler,
                                                initargs=self.source)
            _answer(self.sampling.submit(_in_child, "sample", config.model_dump(mode="json"),
                                         2).result(), "sampling")

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
        for pool in (self.scoring, self.sampling):
            if pool is not None:
                pool.shutdown(wait=True)


_CHILD: Engine | None = None  # a child process's engine: inherited (scoring) or opened (sampling)


def _adopt(engine: Engine) -> None:
    """The scoring process's start (forked: ``engine`` is not pickled): one torch thread
    (the sampler has the other cores), no Ctrl-C of its own (the server stops it)."""
    import torch

    global _CHILD
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    _CHILD = engine


def _open_sampler(run_dir: str, overrides: list, threads: int | None) -> None:
    """The sampling process's start (spawned): the run opened as the server opened it, no
    Ctrl-C of its own (the server stops it)."""
    global _CHILD
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _CHILD = Engine.load(run_dir, overrides, threads=threads)


def _in_child(method: str, config: dict, arg: Any) -> tuple[bool, Any]:
    """``sample`` or ``item_metrics`` of the engine a scoring or sampling process holds:
    ``(True, result)`` or ``(False, message)``."""
    engine = _CHILD
    try:
        return True, getattr(engine, method)(
            type(engine.run.config.sample).model_validate(config), arg)
    except Exception as exc:  # sent back as text: a plugin's exception may not unpickle
        return False, str(exc) if isinstance(exc, TlgenError) else f"{type(exc).__name__}: {exc}"


def _answer(result: tuple[bool, Any], process: str) -> Any:
    """What a child process's ``_in_child`` returned, or its failure as a PluginError."""
    ok, value = result
    if not ok:
        raise PluginError(f"{value} (in the {process} process)")
    return value
