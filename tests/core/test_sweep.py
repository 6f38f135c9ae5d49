"""tlgen sweep with real Optuna and real tiny runs of the charlm test plugin."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tlgen import Run
from tlgen.cli import main
from tlgen.sweep import SURPLUS, prepare, sweep, work
from tlgen.sweep_study import load_studies, open_storage

from .conftest import CHARLM

SWEEP = f"""
plugin = "{CHARLM}"
seed = 0
[train]
threads = 1
max_steps = 8
eval_every = 4
save_every = 4
[sample]
n = 2
length = 8
[sweep]
n_trials = 3
objectives = {{val_loss = "minimize"}}
fixed = {{"train.warmup_steps" = 1}}
[sweep.space]
"train.lr" = {{low = 1e-3, high = 1e-2, log = true}}
"freeze.strategy" = ["full", "lora"]
"""


def write(tmp_path, text=SWEEP, name="sweep.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def trials(folder):
    return json.loads((Path(folder) / "trials.json").read_text())


def states(folder):
    spec, _ = prepare(None, None, str(folder), None)
    study, _ = load_studies(spec, open_storage(spec, Path(folder)))
    return [(t.number, t.state.name, t.params, t.user_attrs) for t in study.trials]


@pytest.mark.slow
def test_a_sweep_runs_its_trials_as_runs_and_best_toml_reproduces_the_best(tmp_path):
    folder = tmp_path / "sw"
    page = sweep(str(write(tmp_path)), str(folder), n_trials=4, device="cpu")
    rows = trials(folder)
    assert [r["state"] for r in rows].count("COMPLETE") + \
        [r["state"] for r in rows].count("PRUNED") == 4
    for r in rows:  # every trial is an ordinary run folder (with its report), linked
        assert (folder / r["link"]).exists() and r["link"] in page.read_text()
        assert r["link"].endswith("report.html") == (r["state"] == "COMPLETE")
        assert r["wall_s"] > 0 and r["steps"] >= 4
    text = page.read_text()
    assert "train.lr" in text and "plots/history_0.png" in text and "best.toml" in text
    assert (folder / "plots" / "history_0.png").is_file()
    # memory stays flat trial over trial in one process (accelerator state reset per run)
    rss = [r["rss_mb"] for r in rows if r["rss_mb"]]
    assert len(rss) >= 3 and rss[-1] - rss[1] < 20, f"RSS grows trial over trial: {rss}"
    best = min((r for r in rows if r["state"] == "COMPLETE"), key=lambda r: r["values"][0])
    run = Run.create(config_file=folder / "best.toml", output_dir=tmp_path / "again",
                     device="cpu")
    again = run.execute()["metrics"]["after"]["val_loss"]
    assert again == pytest.approx(best["values"][0], rel=1e-4)


def test_enqueued_trials_run_first_with_their_values_and_the_rest_sampled(tmp_path):
    text = _fixed('enqueue = [{"train.lr" = 2e-3, "freeze.strategy" = "lora"}, '
                  '{"train.lr" = 5e-3}]')
    folder = tmp_path / "sw"
    sweep(str(write(tmp_path, text)), str(folder), n_trials=3, device="cpu")
    found = {n: params for n, _, params, _ in states(folder)}
    assert found[0] == {"train.lr": 2e-3, "freeze.strategy": "lora"}
    assert found[1]["train.lr"] == 5e-3 and found[1]["freeze.strategy"] in ("full", "lora")
    assert found[2]["train.lr"] not in (2e-3, 5e-3)


def test_the_percentile_pruner_keeps_only_the_best_share(tmp_path):
    spec, folder = prepare(str(write(tmp_path, _fixed('pruner = "percentile"\npercentile = 10'))),
                           str(tmp_path / "sw"), None, 4)
    study, _ = load_studies(spec, open_storage(spec, folder))
    # the third is worse than the best 10% at step 4; the fourth repeats the first: kept
    for lr in (1e-2, 3e-3, 6e-3, 1e-2):
        study.enqueue_trial({"train.lr": lr, "freeze.strategy": "full"})
    work(spec, folder, "cpu")
    got = [state for _, state, _, _ in states(folder)]
    assert got == ["COMPLETE", "COMPLETE", "PRUNED", "COMPLETE"]


def test_a_pruned_trial_is_marked_pruned_and_keeps_its_folder(tmp_path):
    spec, folder = prepare(str(write(tmp_path)), str(tmp_path / "sw"), None, 3)
    study, _ = load_studies(spec, open_storage(spec, folder))
    for lr in (1e-2, 9e-3, 1e-6):  # the third barely moves: worse than the median at step 4
        study.enqueue_trial({"train.lr": lr, "freeze.strategy": "full"})
    work(spec, folder, "cpu")
    got = {n: (state, attrs) for n, state, _, attrs in states(folder)}
    assert [got[n][0] for n in range(3)] == ["COMPLETE", "COMPLETE", "PRUNED"]
    pruned = folder / got[2][1]["run_dir"]
    assert pruned.is_dir() and (pruned / "config.toml").is_file()
    assert got[2][1]["steps"] == 4  # stopped at its first evaluation, not run to 8
    assert not (pruned / "summary.json").exists()


@pytest.mark.slow
def test_two_workers_share_one_journal_without_duplicates(tmp_path):
    folder = tmp_path / "sw"
    sweep(str(write(tmp_path)), str(folder), n_trials=4, workers=2, device="cpu")
    found = states(folder)
    numbers = [n for n, *_ in found]
    assert len(numbers) == len(set(numbers))
    done = [s for _, s, _, attrs in found if s in ("COMPLETE", "PRUNED")]
    assert len(done) == 4
    assert all(s in ("COMPLETE", "PRUNED") or attrs.get("error") == SURPLUS
               for _, s, _, attrs in found)
    workers = {attrs["worker"]["pid"] for _, s, _, attrs in found if s == "COMPLETE"}
    assert len(workers) == 2
    params = [json.dumps(p, sort_keys=True) for _, s, p, _ in found if s == "COMPLETE"]
    assert len(set(params)) == len(params), "workers drew the same parameters"


@pytest.mark.slow
def test_kill_9_then_resume_finishes_exactly_n_and_reruns_the_killed_params(tmp_path):
    # long enough, and unpruned, that trial 1 is still running at a poll on an idle machine
    config = write(tmp_path, _fixed('pruner = "none"').replace("max_steps = 8",
                                                                 "max_steps = 1500"))
    folder = tmp_path / "sw"
    cmd = [str(Path(sys.executable).parent / "tlgen"), "sweep", "-c", str(config),
           "-o", str(folder), "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    killed = None
    while time.time() < deadline and killed is None:  # kill once trial 1 has a checkpoint
        time.sleep(0.5)
        if (folder / "study.journal").is_file():
            for n, state, params, attrs in states(folder):
                ckpt = folder / attrs.get("run_dir", "nonexistent") / "checkpoints"
                if n == 1 and state == "RUNNING" and ckpt.is_dir() and any(ckpt.iterdir()):
                    os.kill(proc.pid, signal.SIGKILL)
                    killed = params
    proc.wait(timeout=30)
    assert killed is not None, "trial 1 never reached a checkpoint"
    folder = folder.rename(tmp_path / "moved")  # run folders are recorded relative to it
    result = CliRunner().invoke(main, ["sweep", "--resume", str(folder), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    found = states(folder)
    assert sum(s in ("COMPLETE", "PRUNED") for _, s, _, _ in found) == 3
    assert not [n for n, s, _, _ in found if s in ("RUNNING", "WAITING")]
    (dead,) = [(n, attrs) for n, s, _, attrs in found if s == "FAIL"]
    retry = [(p, attrs) for _, s, p, attrs in found if attrs.get("retry_of") == dead[0]]
    assert retry and retry[0][0] == killed  # re-run with its original parameters ...
    assert retry[0][1]["run_dir"] == dead[1]["run_dir"]  # ... from its checkpoint


def _fixed(text):
    return SWEEP.replace('fixed = {"train.warmup_steps" = 1}', text)


@pytest.mark.parametrize("text, message", [
    (SWEEP.replace('"train.lr" =', '"train.lrr" ='), "unknown key 'train.lrr' (did you mean "
                                                      "'train.lr'?)"),
    (SWEEP.replace("low = 1e-3, high = 1e-2", "low = 1e-2, high = 1e-3"), "low 0.01 > high"),
    (SWEEP.replace('val_loss = "minimize"', 'distinct = "maximize"'),
     "objective 'distinct' is not a metric of plugin"),
    (_fixed('fixed = {"train.lr" = 1e-3}'), "'train.lr' is both searched (space) and fixed"),
    (_fixed('storage = "sqlite:////nonexistent/folder/study.db"'), "cannot be reached"),
    (SWEEP.replace('["full", "lora"]', '["full", "lorra"]'), "unknown strategy 'lorra'"),
    (_fixed('enqueue = [{"train.lrr" = 1e-3}]'), "enqueue #0: 'train.lrr' is not a space key"),
    (_fixed('enqueue = [{"train.lr" = 1e-3}, {"train.lr" = 0.5}]'),
     "enqueue #1: train.lr = 0.5 is not in [0.001, 0.01]"),
    (_fixed('enqueue = [{"freeze.strategy" = "ful"}]'), "is not one of ['full', 'lora']"),
    (_fixed('percentile = 100'), "percentile must be a number between 0 and 100"),
])
def test_bad_input_is_one_line_exit_2_before_anything_is_written(tmp_path, text, message):
    config = write(tmp_path, text)
    result = CliRunner().invoke(main, ["sweep", "-c", str(config), "-o", str(tmp_path / "sw")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "sw").exists()


def test_resume_with_another_search_space_is_refused(tmp_path):
    folder = tmp_path / "sw"
    prepare(str(write(tmp_path)), str(folder), None, None)
    other = write(tmp_path, SWEEP.replace('["full", "lora"]', '["full"]'), "other.toml")
    before = sorted(p.name for p in folder.iterdir())
    result = CliRunner().invoke(main, ["sweep", "-c", str(other), "--resume", str(folder)])
    assert result.exit_code == 2 and "has another search space" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in folder.iterdir()) == before


def test_best_toml_takes_the_front_trial_that_gains_most_on_the_enqueued_baseline():
    import optuna
    from optuna.trial import create_trial

    from tlgen.sweep_report import chosen_trial
    from tlgen.sweep_spec import SweepSpec

    spec = SweepSpec(source="sweep.toml", base={}, plugin="molecules", space=[],
                     objectives={"valid": "maximize", "test_loss": "minimize"})
    study = optuna.create_study(directions=["maximize", "minimize"])

    def add(valid, loss, **attrs):
        study.add_trial(create_trial(values=[valid, loss], user_attrs=attrs))

    add(0.89, 0.300, enqueued=True)  # the baseline
    add(0.97, 0.350)  # best valid, worse loss: on the front but does not beat the baseline
    add(0.90, 0.299)  # beats it a little on both
    add(0.93, 0.300)  # beats it more, on valid alone
    assert chosen_trial(spec, study).number == 3
    study = optuna.create_study(directions=["maximize", "minimize"])
    add(0.89, 0.300, enqueued=True)
    add(0.97, 0.350)  # nothing beats the baseline: the front's best on the first objective
    assert chosen_trial(spec, study).number == 1
