"""``tlgen monitor``: drift tests by Evidently's rules, and the whole command on a log that
a real server wrote (a textlm run served at its own settings, then at a hot temperature)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from tlgen.drift import column_kinds, drift_of  # noqa: E402

from .serve_helpers import LiveServer, train_text_run  # noqa: E402


def test_column_kinds_follow_evidently():
    rows = [{"x": float(i), "few": i % 3, "flag": i % 2 == 0, "cat": "abcd"[i % 4],
             "text": f"free text {i}", "same": 1} for i in range(100)]
    assert column_kinds(rows) == {"x": "numeric", "few": "categorical", "flag": "binary",
                                  "cat": "categorical"}


def test_ks_flags_a_shift_and_not_the_same_distribution():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, 500).tolist()
    same = drift_of("x", "numeric", ref, rng.normal(0, 1, 200).tolist())
    moved = drift_of("x", "numeric", ref, rng.normal(0.5, 1, 200).tolist())
    assert same.test == "KS" and not same.drifted
    assert moved.drifted and moved.score < 1e-4


def test_binary_and_categorical_tests():
    ref = [True] * 450 + [False] * 50
    assert not drift_of("v", "binary", ref, [True] * 90 + [False] * 10).drifted
    low = drift_of("v", "binary", ref, [True] * 60 + [False] * 40)
    assert low.test == "Z" and low.drifted and low.reference == 0.9 and low.current == 0.6
    cats = list("aabbc") * 100
    assert not drift_of("c", "categorical", cats, list("aabbc") * 40).drifted
    new = drift_of("c", "categorical", cats, list("aabbd") * 40)  # a category never seen
    assert new.test == "chi2" and new.drifted


def test_large_references_use_distances():
    rng = np.random.default_rng(1)
    ref = rng.normal(0, 1, 3000).tolist()
    same = drift_of("x", "numeric", ref, rng.normal(0, 1, 300).tolist())
    assert same.test == "Wasserstein" and not same.drifted
    assert drift_of("x", "numeric", ref, rng.normal(1, 1, 300).tolist()).drifted


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A textlm run; 6 windows of 50 served at its own settings, then 2 at temperature 4."""
    from tlgen.engine import Engine
    from tlgen.serve import ServeSettings, create_app

    folder = tmp_path_factory.mktemp("monitor")
    run_dir = train_text_run(folder / "runs")
    engine = Engine.load(run_dir)
    logs = folder / "logs"
    with LiveServer(create_app(engine, ServeSettings(log_dir=str(logs)))) as live:
        with httpx.Client(base_url=live.url, timeout=60) as client:
            for seed in range(12):  # seeded: the same log every time
                assert client.post("/v1/generate", json={"n": 25, "seed": 100 + seed}
                                   ).status_code == 200
            calm = (logs / "served.jsonl").read_text()
            for seed in range(4):
                client.post("/v1/generate", json={"n": 25, "seed": 200 + seed,
                                                  "temperature": 4.0})
    engine.close()
    (folder / "calm").mkdir()
    (folder / "calm" / "served.jsonl").write_text(calm)
    return run_dir, folder


def test_the_models_own_output_raises_no_alert(served):
    from click.testing import CliRunner

    from tlgen.cli import main

    run_dir, folder = served
    result = CliRunner().invoke(main, ["monitor", str(folder / "calm"), "-r", str(run_dir),
                                       "--window", "50", "--reference-n", "300"])
    assert result.exit_code == 0, result.output
    assert "6 windows of 50" in result.output and "no drift" in result.output
    assert (folder / "calm" / "monitor.html").is_file()
    stored = json.loads((run_dir / "serving" / "reference.json").read_text())
    assert len(stored["rows"]) == 300 and "distinct_chars" in stored["metrics"]


def test_a_hot_temperature_is_flagged_within_two_windows(served):
    from tlgen.monitor import run_monitor

    run_dir, folder = served
    verdict = run_monitor(folder / "logs", run_dir, size=50, reference_n=300)
    assert verdict.drift and "DRIFT" in verdict.line
    flagged = [w.index for w in verdict.windows if w.flagged]
    assert flagged and flagged[0] in (6, 7) and all(i >= 6 for i in flagged)
    moved = {d.column for w in verdict.windows if w.flagged for d in w.drifted}
    assert "vowel_share" in moved or "valid" in moved
    html = verdict.report.read_text()
    assert "DRIFT" in html and "vowel_share" in html and "data:image/png;base64" in html


def test_a_log_shorter_than_a_window_is_one_line(served, tmp_path):
    from click.testing import CliRunner

    from tlgen.cli import main

    run_dir, folder = served
    (tmp_path / "served.jsonl").write_text("not json\n")
    result = CliRunner().invoke(main, ["monitor", str(tmp_path), "-r", str(run_dir)])
    assert result.exit_code == 2 and "fewer than one window" in result.output
