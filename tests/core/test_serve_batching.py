"""``tlgen serve``'s throughput parts over real HTTP on 127.0.0.1: scoring in a forked
process (``--overlap-scoring``) and artefacts drawn ahead for unseeded requests
(``--draw-ahead``), on a trained text run; bounded waits and loads."""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from .serve_helpers import LiveServer, train_text_run  # noqa: E402


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from tlgen.engine import Engine

    run_dir = train_text_run(tmp_path_factory.mktemp("serve") / "runs")
    engine = Engine.load(run_dir, overlap=True)
    engine.warm_up()
    yield engine
    engine.close()


def figures(url: str) -> dict[str, float]:
    found = {}
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def settle(app, url: str, stock: int) -> dict[str, float]:
    """The server's figures once it holds ``stock`` drawn-ahead artefacts and draws no more
    (at most 60 s)."""
    deadline = time.monotonic() + 60
    batcher = app.state.batcher
    while len(batcher.stock) < stock or batcher.coming or batcher._finishing:
        assert time.monotonic() < deadline, "the stock did not settle within 60 s"
        time.sleep(0.05)
    return figures(url)


def test_scoring_runs_in_a_forked_process_with_the_same_rows(engine):
    assert engine.scoring is not None
    assert engine.scoring.submit(os.getpid).result() != os.getpid()
    config = engine.sample_config({"seed": 3})
    samples = engine.sample(config, 5)
    rows = asyncio.run(engine.score(config, samples))
    assert rows == engine.item_metrics(config, samples)
    from tlgen.errors import PluginError

    with pytest.raises(PluginError, match="raised AttributeError.*in the scoring process"):
        asyncio.run(engine.score(config, [None]))  # the plugin's item_metrics fails
    assert asyncio.run(engine.score(config, samples)) == rows  # the process lives on


def test_unseeded_requests_take_artefacts_drawn_ahead(engine, tmp_path):
    from tlgen.serve import ServeSettings, create_app

    app = create_app(engine, ServeSettings(max_n=16, draw_ahead=8, log_dir=str(tmp_path)))
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        before = settle(app, live.url, 8)  # drawn while idle
        assert before["tlgen_sample_batch_items_count"] == 1  # in one call of 8
        answer = client.post("/v1/generate", json={"n": 4}).json()
        assert len(answer["items"]) == 4 and answer["batch_items"] == 8
        assert all(set(i["metrics"]) == {"length", "vowel_share", "valid", "first"}
                   for i in answer["items"])
        # seeded, or other parameters: drawn for the request, as without a stock
        seeded = client.post("/v1/generate", json={"n": 3, "seed": 9}).json()
        assert seeded["batch_items"] == 3
        offline = engine.sample(engine.sample_config({"seed": 9}), 3)
        assert [i["artefact"] for i in seeded["items"]] == offline
        warmer = client.post("/v1/generate", json={"n": 2, "temperature": 0.5}).json()
        assert warmer["batch_items"] == 2

        def ask(_):
            with httpx.Client(base_url=live.url, timeout=60) as c:
                return c.post("/v1/generate", json={"n": 4}).json()

        start = settle(app, live.url, 8)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, range(8)))
        assert [len(a["items"]) for a in answers] == [4] * 8
        end = settle(app, live.url, 8)
        # every artefact drawn is handed out once or still in stock: none twice, none lost
        drawn = end["tlgen_sample_batch_items_sum"] - start["tlgen_sample_batch_items_sum"]
        stock = end["tlgen_drawn_ahead_items"] - start["tlgen_drawn_ahead_items"]
        assert drawn == 32 + stock
    served = (tmp_path / "served.jsonl").read_text().splitlines()
    assert len(served) == 4 + 3 + 2 + 32


def test_a_draw_ahead_call_is_stocked_part_by_part_as_it_is_scored(engine, tmp_path,
                                                                   monkeypatch):
    from tlgen import batcher
    from tlgen.serve import ServeSettings, create_app

    stocked = []

    class Recording(deque):
        def extend(self, rows):
            rows = list(rows)
            stocked.append(len(rows))
            super().extend(rows)

    monkeypatch.setattr(batcher, "deque", Recording)
    size = 2 * batcher.STOCK_PART + 5
    app = create_app(engine, ServeSettings(max_n=16, draw_ahead=size, log_dir=str(tmp_path)))
    with LiveServer(app) as live:
        found = settle(app, live.url, size)
    assert found["tlgen_sample_batch_items_count"] == 1  # one call, three parts
    assert found["tlgen_item_metrics_seconds_count"] == 3
    assert stocked == [batcher.STOCK_PART, batcher.STOCK_PART, 5]
    assert len(app.state.batcher.stock) == size


def test_a_failing_draw_ahead_answers_the_waiting_request_and_stops(engine, tmp_path):
    """A stock drawn at parameters that make the plugin fail: the waiting request gets the
    500, and the server does not keep retrying on its own."""
    from tlgen.engine import Engine
    from tlgen.serve import ServeSettings, create_app

    failing = Engine.load(engine.run.dir, ["sample.fail=true"])
    calls, sample = [], failing.sample
    failing.sample = lambda config, n: calls.append(n) or sample(config, n)
    try:
        app = create_app(failing, ServeSettings(draw_ahead=4, log_dir=str(tmp_path)))
        with LiveServer(app) as live:
            time.sleep(1.0)
            assert calls == [4]  # one try while idle, not one after another
            answer = httpx.post(f"{live.url}/v1/generate", json={"n": 2}, timeout=60)
            assert answer.status_code == 500 and "asked to fail" in answer.text
            assert calls == [4, 4]  # the waiting request's own try
            fine = httpx.post(f"{live.url}/v1/generate", json={"n": 2, "fail": False},
                              timeout=60)
            assert fine.status_code == 200
    finally:
        failing.close()


def test_a_sampling_process_draws_what_the_thread_draws_and_serves_it(engine, tmp_path):
    """``--sample-process``: ``sample`` runs in a spawned process that opened the run itself;
    a seeded request over HTTP gets what the in-process sampler gives for that seed."""
    from tlgen.engine import Engine
    from tlgen.errors import PluginError
    from tlgen.serve import ServeSettings, create_app

    spawned = Engine.load(engine.run.dir, sample_process=True)
    spawned.warm_up()
    try:
        assert spawned.sampling.submit(os.getpid).result() != os.getpid()
        config = engine.sample_config({"seed": 11})
        assert asyncio.run(spawned.draw(config, 4)) == engine.sample(config, 4)
        app = create_app(spawned, ServeSettings(log_dir=str(tmp_path)))
        with LiveServer(app) as server, httpx.Client(timeout=60) as client:
            answer = client.post(f"{server.url}/v1/generate", json={"n": 3, "seed": 5})
            assert answer.status_code == 200
            served = [item["artefact"] for item in answer.json()["items"]]
            assert served == engine.sample(engine.sample_config({"seed": 5}), 3)
        with pytest.raises(PluginError, match="asked to fail.*in the sampling process"):
            asyncio.run(spawned.draw(config.model_copy(update={"fail": True}), 2))
        assert asyncio.run(spawned.draw(config, 4)) == engine.sample(config, 4)  # it lives on
    finally:
        spawned.close()
