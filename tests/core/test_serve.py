"""``tlgen serve`` over real HTTP on 127.0.0.1: a trained text run behind uvicorn, real
clients (httpx, the official openai client, a raw socket), bounded load."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from .serve_helpers import LiveServer, train_text_run  # noqa: E402

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from tlgen.engine import Engine

    run_dir = train_text_run(tmp_path_factory.mktemp("serve") / "runs")
    engine = Engine.load(run_dir)
    engine.warm_up()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def server(engine):
    from tlgen.serve import ServeSettings, create_app

    app = create_app(engine, ServeSettings(api_key=KEY, max_n=64, body_timeout_s=1.0))
    with LiveServer(app) as live:
        yield live


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as c:
        yield c


def test_health_needs_no_token_and_models_describe_the_run(server, engine):
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok", "run": engine.name}
    models = httpx.get(f"{server.url}/v1/models", headers=AUTH).json()["data"][0]
    assert models["id"] == engine.name and models["plugin"] == "textlm_plugin"
    assert models["base_model"] == "textlm-scratch" and models["adapters"] == []


def test_generate_answers_artefacts_with_their_item_metrics(client):
    body = client.post("/v1/generate", json={"n": 5, "temperature": 0.7, "length": 12}).json()
    assert len(body["items"]) == 5 and body["params"]["temperature"] == 0.7
    for item in body["items"]:
        assert isinstance(item["artefact"], str) and len(item["artefact"]) <= 12
        assert set(item["metrics"]) == {"length", "vowel_share", "valid", "first"}
        assert item["metrics"]["length"] == len(item["artefact"])


def test_a_seed_reproduces_the_offline_sample(client, engine):
    first = client.post("/v1/generate", json={"n": 6, "seed": 11}).json()
    again = client.post("/v1/generate", json={"n": 6, "seed": 11}).json()
    other = client.post("/v1/generate", json={"n": 6, "seed": 12}).json()
    texts = [i["artefact"] for i in first["items"]]
    assert texts == [i["artefact"] for i in again["items"]]
    assert texts != [i["artefact"] for i in other["items"]]
    offline = engine.sampler.submit(engine.sample, engine.sample_config({"seed": 11}), 6)
    assert texts == offline.result()


def test_concurrent_requests_share_sampler_calls(server, client):
    def ask(_):
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as c:
            return c.post("/v1/generate", json={"n": 4, "length": 10}).json()

    before = _metric(client, "tlgen_sample_batch_items_count")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    calls = _metric(client, "tlgen_sample_batch_items_count") - before
    assert all(len(a["items"]) == 4 for a in answers)
    assert max(a["batch_items"] for a in answers) > 4  # some were merged
    assert calls < 8


@pytest.mark.parametrize("body, status, param", [
    ({"n": "3"}, 422, "n"),
    ({"n": 2.5}, 422, "n"),
    ({"n": True}, 422, "n"),
    ({"n": 0}, 422, "n"),
    ({"n": 10**9}, 422, "n"),
    ({"n": 2, "temperature": -1}, 422, "temperature"),
    ({"n": 2, "temperature": "hot"}, 422, "temperature"),
    ({"n": 2, "temprature": 0.5}, 422, "temprature"),
    ({"n": 2, "seed": "x"}, 422, "seed"),
    ({"n": 2, "backbone": {"path": "/etc"}}, 422, "backbone"),
])
def test_bad_parameters_get_a_4xx_naming_the_field(client, body, status, param):
    answer = client.post("/v1/generate", json=body)
    assert answer.status_code == status
    assert answer.json()["error"]["param"] == param
    assert client.post("/v1/generate", json={"n": 1}).status_code == 200


def test_malformed_and_oversized_bodies_are_refused(client):
    assert client.post("/v1/generate", content=b"{not json").status_code == 400
    assert client.post("/v1/generate", json=[1, 2]).status_code == 400
    big = client.post("/v1/generate", content=b'{"n": 1, "x": "' + b"a" * 10_000_000 + b'"}')
    assert big.status_code == 413 and big.json()["error"]["type"] == "body_too_large"

    def chunks():  # no Content-Length: the cap holds while reading
        for _ in range(200):
            yield b" " * 1024

    assert client.post("/v1/generate", content=chunks()).status_code == 413
    assert client.post("/v1/generate", json={"n": 1}).status_code == 200


def test_a_token_is_needed_everywhere_but_health(server):
    for path in ("/v1/models", "/metrics"):
        assert httpx.get(f"{server.url}{path}").status_code == 401
    wrong = httpx.post(f"{server.url}/v1/generate", json={"n": 1},
                       headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_a_failing_plugin_call_is_one_500_and_the_server_goes_on(client):
    failed = client.post("/v1/generate", json={"n": 2, "fail": True, "seed": 1})
    assert failed.status_code == 500 and failed.json()["error"]["type"] == "plugin_error"
    assert "asked to fail" in failed.json()["error"]["message"]
    assert client.post("/v1/generate", json={"n": 2}).status_code == 200


def test_a_slow_body_gets_408_while_others_are_served(server, client):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
        slow.sendall(b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     + KEY.encode() + b"\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"n\": ")
        assert client.post("/v1/generate", json={"n": 1}).status_code == 200
        started = time.monotonic()
        answer = slow.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 9
    assert client.post("/v1/generate", json={"n": 1}).status_code == 200


def test_work_over_the_cap_gets_429_with_retry_after(engine):
    from tlgen.serve import ServeSettings, create_app

    app = create_app(engine, ServeSettings(max_n=8, max_pending=8))
    with LiveServer(app) as live:
        def ask(_):
            with httpx.Client(base_url=live.url, timeout=60) as c:
                return c.post("/v1/generate", json={"n": 8, "length": 40})

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(ask, range(6)))
        codes = sorted(a.status_code for a in answers)
        assert codes[0] == 200 and codes[-1] == 429
        refused = next(a for a in answers if a.status_code == 429)
        assert int(refused.headers["retry-after"]) >= 1
        assert httpx.post(f"{live.url}/v1/generate", json={"n": 8}).status_code == 200


def test_metrics_are_prometheus_text_with_live_quality(client):
    client.post("/v1/generate", json={"n": 4})
    client.post("/v1/generate", json={"n": 0})
    text = client.get("/metrics").text
    for name in ("tlgen_requests_total", "tlgen_items_total", "tlgen_request_seconds_bucket",
                 "tlgen_queue_wait_seconds_bucket", "tlgen_sample_batch_seconds_bucket",
                 "tlgen_queue_depth", 'tlgen_errors_total{kind="invalid_parameter"}',
                 'tlgen_item_metric_rolling_mean{metric="valid"}'):
        assert name in text, name
    valid = _metric(client, 'tlgen_item_metric_rolling_mean{metric="valid"}')
    assert 0 <= valid <= 1


def test_every_served_artefact_is_logged(client, engine):
    answer = client.post("/v1/generate", json={"n": 3, "seed": 5}).json()
    rows = [json.loads(line) for line in
            (engine.run.dir / "serving" / "served.jsonl").read_text().splitlines()]
    mine = [r for r in rows if r["request_id"] == answer["id"]]
    assert [r["artefact"] for r in mine] == [i["artefact"] for i in answer["items"]]
    assert mine[0]["seed"] == 5 and mine[0]["params"]["seed"] == 5
    assert set(mine[0]["metrics"]) == {"length", "vowel_share", "valid", "first"}


def test_completions_are_logged_with_their_item_metrics(client, engine):
    """/v1/completions feeds `tlgen monitor` as /v1/generate does: each choice as its prompt
    and completion, with the plugin's item_metrics row; streamed ones once they end."""
    log = engine.run.dir / "serving" / "served.jsonl"
    done = client.post("/v1/completions", json={"model": engine.name, "prompt": "Shall ",
                                                "max_tokens": 6, "n": 2, "seed": 3}).json()
    with client.stream("POST", "/v1/completions", json={
            "model": engine.name, "prompt": "Thou", "max_tokens": 6, "seed": 4,
            "stream": True}) as streamed:
        events = [line for line in streamed.iter_lines() if line.startswith("data: {")]
    ident = json.loads(events[0][6:])["id"]
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    mine = [r for r in rows if r["request_id"] == done["id"]]
    assert [r["artefact"] for r in mine] == ["Shall " + c["text"] for c in done["choices"]]
    assert mine[0]["params"]["seed"] == 3 and mine[0]["metrics"]["length"] == len(
        mine[0]["artefact"])
    text = "".join(json.loads(e[6:])["choices"][0]["text"] for e in events)
    assert [r["artefact"] for r in rows if r["request_id"] == ident] == ["Thou" + text]
    assert not (engine.run.dir / "samples" / "serve").exists()  # served: no sample files


def test_the_openai_client_works_unchanged(server, engine):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0)
    assert client.models.list().data[0].id == engine.name
    done = client.completions.create(model=engine.name, prompt="Shall ", max_tokens=8, n=2,
                                     seed=3, temperature=0.8)
    assert len(done.choices) == 2 and done.usage.completion_tokens > 0
    assert all(c.finish_reason in ("stop", "length") for c in done.choices)
    again = client.completions.create(model=engine.name, prompt="Shall ", max_tokens=8, n=2,
                                      seed=3, temperature=0.8)
    assert [c.text for c in again.choices] == [c.text for c in done.choices]
    stream = client.completions.create(model=engine.name, prompt="Thou", max_tokens=10,
                                       stream=True, seed=4)
    chunks = list(stream)
    assert len(chunks) >= 2 and chunks[-1].choices[0].finish_reason in ("stop", "length")
    text = "".join(c.choices[0].text for c in chunks)
    whole = client.completions.create(model=engine.name, prompt="Thou", max_tokens=10, seed=4)
    assert text == whole.choices[0].text
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="other", prompt="x", max_tokens=2)
    with pytest.raises(openai.UnprocessableEntityError):
        client.completions.create(model=engine.name, prompt="x", max_tokens=2,
                                  extra_body={"best_of": 3})
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="bad",
                      max_retries=0).completions.create(model=engine.name, prompt="x")


@pytest.mark.slow
def test_sigterm_drains_in_flight_requests_then_exits_0(engine, tmp_path):
    """`tlgen serve` in a subprocess: a request in flight when SIGTERM comes is answered."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "TLGEN_API_KEY": KEY}
    tlgen = str(Path(sys.executable).with_name("tlgen"))
    proc = subprocess.Popen([tlgen, "serve", str(engine.run.dir),
                             "--port", str(port), "--threads", "1",
                             "--log-dir", str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(httpx.post, f"{url}/v1/generate", headers=AUTH, timeout=60,
                                  json={"n": 64, "length": 60, "seed": 1})
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            answer = pending.result()
        assert answer.status_code == 200 and len(answer.json()["items"]) == 64
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def _metric(client, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.slow
def test_two_ray_serve_replicas_answer_a_seed_alike(engine):
    """`--replicas 2` on a local Ray instance: both replicas serve, and a seeded request gets
    the same artefacts from either, equal to the offline sample with that seed."""
    pytest.importorskip("ray.serve")
    import ray
    from ray import serve

    from tlgen.ray_serve import start_replicas
    from tlgen.serve import ServeSettings

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    try:
        url = start_replicas(engine.run.dir, [], 1, ServeSettings(api_key=KEY), "127.0.0.1",
                             port, 2)
        answers = [httpx.post(f"{url}/v1/generate", json={"n": 4, "seed": 7}, headers=AUTH,
                              timeout=60).json() for _ in range(16)]
        assert httpx.post(f"{url}/v1/generate", json={"n": 4}).status_code == 401
    finally:
        serve.shutdown()
        ray.shutdown()
    texts = {tuple(i["artefact"] for i in a["items"]) for a in answers}
    offline = engine.sampler.submit(engine.sample, engine.sample_config({"seed": 7}), 4)
    assert texts == {tuple(offline.result())}
    logs = list((engine.run.dir / "serving").glob("served-ray-*.jsonl"))
    assert len(logs) == 2  # one per replica: both answered
