"""OpenAI-shaped ``POST /v1/completions`` for runs whose backbone is a causal LM with a
tokenizer, so the official ``openai`` client works unchanged (``stream: true`` is
server-sent events). Tokens come from ``transformers``' ``generate`` on the run's trained
model; text from the plugin's ``decode`` hook (a SMILES has no spaces between tokens)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .engine import Engine, RequestError
from .serve import ServeSettings, check_n, jsonable, read_json
from .serve_metrics import ServeMetrics


class CompletionRequest(BaseModel):
    """The subset of OpenAI's completion parameters served; any other is a 422 naming it."""

    model_config = ConfigDict(extra="forbid")
    model: str
    prompt: str | list[str] = ""
    max_tokens: int = Field(16, ge=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    n: int = 1
    stream: bool = False
    seed: int | None = Field(None, ge=0, lt=2**63)
    stop: str | list[str] | None = None
    user: str | None = None


def add_completions(app: FastAPI, engine: Engine, settings: ServeSettings,
                    metrics: ServeMetrics) -> None:
    """Register ``/v1/completions`` on ``app``."""

    @app.post("/v1/completions")
    async def completions(request: Request):
        body = await read_json(request, settings)
        try:
            req = CompletionRequest.model_validate_json(json.dumps(body), strict=True)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = ".".join(str(p) for p in err["loc"][:1])
            message = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
            raise RequestError(422, "invalid_parameter", f"{name}: {message}", name) from None
        if req.model != engine.name:
            raise RequestError(404, "model_not_found", f"model {req.model!r} is not served "
                               f"here; this server serves {engine.name!r}", "model")
        check_n(req.n, settings.max_n)
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        if not prompts:
            raise RequestError(422, "invalid_parameter", "prompt: at least one", "prompt")
        check_n(req.n * len(prompts), settings.max_n, "n")
        for prompt in prompts:  # refused before a stream starts
            room_for(engine, _prompt_ids(engine, prompt), req.max_tokens)
        batcher = request.app.state.batcher
        batcher.admit(req.n * len(prompts))
        chunks = _choices(engine, req, prompts, metrics)
        ident, started = f"cmpl-{uuid.uuid4().hex}", time.monotonic()

        async def logged(texts: dict[int, str]) -> None:
            await _log(request.app, engine, req, prompts, texts, ident, started)

        if req.stream:
            return StreamingResponse(_sse(chunks, req, engine.name, batcher, metrics, ident,
                                          logged), media_type="text/event-stream")
        try:
            choices = {}
            async for index, text, finish in chunks:
                choice = choices.setdefault(index, {"text": "", "index": index,
                                                    "logprobs": None, "finish_reason": None})
                choice["text"] += text
                choice["finish_reason"] = finish or choice["finish_reason"]
        finally:
            batcher.release(req.n * len(prompts))
        metrics.items.labels(endpoint="/v1/completions").inc(len(choices))
        await logged({i: c["text"] for i, c in choices.items()})
        usage = _usage(engine, prompts, req.n, [c["text"] for c in choices.values()])
        return JSONResponse({"id": ident, "object": "text_completion",
                             "created": int(time.time()), "model": engine.name,
                             "choices": [choices[i] for i in sorted(choices)], "usage": usage})


async def _sse(chunks: AsyncIterator, req: CompletionRequest, model: str, batcher,
               metrics: ServeMetrics, ident: str, logged) -> AsyncIterator[str]:
    """Server-sent events in OpenAI's stream format, ending with ``data: [DONE]``; the
    completions are logged (``logged``) once the last has finished."""
    created = int(time.time())
    count = 0
    texts: dict[int, str] = {}
    try:
        async for index, text, finish in chunks:
            count += finish is not None
            texts[index] = texts.get(index, "") + text
            yield "data: " + json.dumps({
                "id": ident, "object": "text_completion", "created": created, "model": model,
                "choices": [{"text": text, "index": index, "logprobs": None,
                             "finish_reason": finish}]}) + "\n\n"
    except Exception as exc:  # the status line is sent: say it in the stream
        yield "data: " + json.dumps(RequestError(500, "internal_error", str(exc)).body()) + "\n\n"
    finally:
        batcher.release(req.n * (1 if isinstance(req.prompt, str) else len(req.prompt)))
        metrics.items.labels(endpoint="/v1/completions").inc(count)
    if texts:
        await logged(texts)
    yield "data: [DONE]\n\n"


async def _log(app: FastAPI, engine: Engine, req: CompletionRequest, prompts: list[str],
               texts: dict[int, str], ident: str, started: float) -> None:
    """Completions into the served-artefact log as ``/v1/generate`` puts its artefacts, for
    ``tlgen monitor`` and the live gauges: each artefact is its prompt and completion (the
    whole sequence, as ``sample`` gives it) with the plugin's ``item_metrics`` row (the rows
    are left empty if scoring fails: the answer is already given)."""
    order = sorted(texts)
    artefacts = [prompts[i // req.n] + texts[i] for i in order]
    rows: list[dict] = [{} for _ in artefacts]
    if engine.has_item_metrics:
        try:
            rows = await engine.score(engine.sample_config({}), artefacts)
        except Exception:  # logged without metrics rather than not at all
            rows = [{} for _ in artefacts]
    rows = jsonable(rows)
    app.state.log.write(ident, req.model_dump(mode="json", exclude={"stream"}), req.seed,
                        artefacts, rows, time.monotonic() - started, time.time())
    app.state.metrics.observe_rows(rows)


async def _choices(engine: Engine, req: CompletionRequest, prompts: list[str],
                   metrics: ServeMetrics) -> AsyncIterator[tuple[int, str, str | None]]:
    """``(choice index, new text, finish reason or None)`` as tokens arrive, prompt by prompt."""
    loop = asyncio.get_running_loop()
    stops = [req.stop] if isinstance(req.stop, str) else (req.stop or [])
    for p, prompt in enumerate(prompts):
        queue: asyncio.Queue = asyncio.Queue()
        cancelled = [False]
        drawing = loop.run_in_executor(engine.sampler, _draw, engine, prompt, req,
                                       _Streamer(loop, queue), cancelled)
        tokens: list[list[int]] = [[] for _ in range(req.n)]
        texts = [""] * req.n
        finish: list[str | None] = [None] * req.n
        started, last = time.monotonic(), None
        try:
            while (step := await queue.get()) is not None:
                now = time.monotonic()
                if last is None:
                    metrics.first_token_seconds.observe(now - started)
                else:
                    metrics.inter_token_seconds.observe(now - last)
                last = now
                for j, token in enumerate(step):
                    if finish[j] is not None:
                        continue
                    if token == _eos(engine):
                        finish[j] = "stop"
                        continue
                    tokens[j].append(token)
                    text = engine.run.call("decode", backbone=engine.backbone,
                                           ids=[tokens[j]])[0]
                    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
                    if cut >= 0:
                        text, finish[j] = text[:cut], "stop"
                    if text.startswith(texts[j]) and len(text) > len(texts[j]):
                        yield p * req.n + j, text[len(texts[j]):], None
                    texts[j] = text
                if all(f is not None for f in finish):
                    cancelled[0] = True
            await drawing
        finally:
            cancelled[0] = True  # a client gone: stop drawing at the next token
        for j in range(req.n):
            yield p * req.n + j, "", finish[j] or "length"


def _eos(engine: Engine) -> int | None:
    tok = engine.backbone.tokenizer
    eos = getattr(tok, "eos_token_id", None)
    return eos if eos is not None else getattr(engine.backbone.model.config, "eos_token_id", None)


def _prompt_ids(engine: Engine, prompt: str) -> list[int]:
    tok, config = engine.backbone.tokenizer, engine.backbone.model.config
    ids = tok(prompt, add_special_tokens=False)["input_ids"] if prompt else []
    bos = getattr(tok, "bos_token_id", None)
    bos = bos if bos is not None else getattr(config, "bos_token_id", None)
    if bos is not None and ids[:1] != [bos]:
        ids = [bos, *ids]
    if not ids:
        raise RequestError(422, "invalid_parameter", "prompt: empty, and the model has no "
                           "BOS token to start from", "prompt")
    return ids


def room_for(engine: Engine, ids: list[int], max_tokens: int) -> int:
    """How many tokens may follow ``ids``: ``max_tokens`` within the model's context."""
    config = engine.backbone.model.config
    context = getattr(config, "n_positions", None) or getattr(
        config, "max_position_embeddings", None) or len(ids) + max_tokens
    room = min(max_tokens, context - len(ids))
    if room < 1:
        raise RequestError(422, "invalid_parameter", f"prompt: {len(ids)} tokens fill the "
                           f"model's context of {context}", "prompt")
    return room


def _draw(engine: Engine, prompt: str, req: CompletionRequest, streamer, cancelled) -> None:
    """Run ``generate`` for one prompt (``n`` rows), feeding ``streamer`` token by token."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Cancelled(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), cancelled[0], dtype=torch.bool,
                              device=input_ids.device)

    model = engine.backbone.model
    try:
        ids = _prompt_ids(engine, prompt)
        room = room_for(engine, ids, req.max_tokens)
        torch.manual_seed(req.seed if req.seed is not None else secrets.randbits(63))
        device = next(model.parameters()).device
        start = torch.tensor([ids] * req.n, device=device)
        eos = _eos(engine)
        sampling = {"do_sample": True, "temperature": req.temperature, "top_p": req.top_p,
                    "top_k": 0} if req.temperature > 0 else {"do_sample": False}
        with torch.inference_mode():
            model.generate(start, attention_mask=torch.ones_like(start), max_new_tokens=room,
                           eos_token_id=eos, pad_token_id=eos, streamer=streamer,
                           stopping_criteria=StoppingCriteriaList([Cancelled()]), **sampling)
    finally:
        streamer.end()


class _Streamer:
    """``generate``'s streamer interface: token ids of each step to an asyncio queue (the
    first call carries the prompt, skipped)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue):
        self.loop, self.queue, self.prompt_seen = loop, queue, False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.loop.call_soon_threadsafe(self.queue.put_nowait, value.reshape(-1).tolist())

    def end(self) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, None)


def _usage(engine: Engine, prompts: list[str], n: int, texts: list[str]) -> dict[str, int]:
    tok = engine.backbone.tokenizer
    prompt_tokens = sum(len(_prompt_ids(engine, p)) for p in prompts) * n
    completion = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion}
