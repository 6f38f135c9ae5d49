"""Sweep benchmark: the molecules example sweep against the shipped fine-tuning defaults.

Runs, in order (each part timed; one thread per run):
1. ``examples/molecules/sweep.toml`` (valid up, test NLL down; median pruning) with
   ``--trials`` trials, and prints the Pareto front.
2. The shipped defaults as one run with the same evaluation settings (the issue's figures:
   valid 0.897, test NLL 0.297), and which Pareto trials beat them on one objective without
   losing on the other.
3. Pruning savings in optimizer steps: the steps the sweep ran against the steps its trials
   would have run unpruned. ``--verify-pruned`` re-runs each pruned trial to its end with
   its parameters (exact steps, and whether any of them would have beaten the best trial);
   without it the unpruned count is the pruned trials' ``train.max_steps`` (an upper bound:
   early stopping might have ended some sooner).
4. ``best.toml`` run again with ``tlgen run --config`` semantics, beside the trial it copies.

    python benchmarks/sweep.py --out /tmp/sweep-bench                # 12 trials
    python benchmarks/sweep.py --out /tmp/sweep-bench --trials 8 --workers 2 --verify-pruned
    python benchmarks/sweep.py --out /tmp/sweep-bench --resume       # continue part 1
    python benchmarks/sweep.py --out /tmp/b --trials 6 --workers 2 --set sample.n=500 \
        --space 'train.max_steps={low=60, high=180, step=40}' --defaults-run runs/<defaults>
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tlgen import Run
from tlgen.sweep import prepare, sweep
from tlgen.sweep_report import chosen_trial
from tlgen.sweep_study import counts, load_studies, open_storage

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "molecules" / "sweep.toml"
DEFAULTS = {"valid": 0.897, "test_loss": 0.297}  # issue 26: defaults after fine-tuning


def timed(label: str, func, *args, **kwargs):
    start = time.perf_counter()
    out = func(*args, **kwargs)
    print(f"[{label}] {time.perf_counter() - start:.0f} s", flush=True)
    return out


def with_overrides(example: Path, overrides: list[str], space: list[str], out: Path) -> Path:
    """The example sweep file with extra fixed keys (e.g. a smaller sample.n) and replaced
    space entries (``--space 'train.max_steps={low=60, high=180, step=40}'``)."""
    import tomllib

    import tomli_w

    raw = tomllib.loads(example.read_text())
    for assignment in overrides:
        key, _, value = assignment.partition("=")
        raw["sweep"].setdefault("fixed", {})[key] = tomllib.loads(f"v = {value}")["v"]
    for assignment in space:
        key, _, value = assignment.partition("=")
        raw["sweep"]["space"][key] = tomllib.loads(f"v = {value}")["v"]
    path = out / "sweep-bench.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def run_once(config_file=None, overrides=(), out=None, plugin=None, name=None) -> dict:
    run = Run.create(plugin, config_file=config_file, overrides=list(overrides), output_dir=out,
                     name=name)
    summary = run.execute()
    return {**summary["metrics"]["after"], "steps": summary["train"]["steps"]}


def beats(trial: dict, ref: dict) -> bool:
    """Better on one objective and no worse on the other."""
    better = (trial["valid"] > ref["valid"], trial["test_loss"] < ref["test_loss"])
    worse = (trial["valid"] < ref["valid"], trial["test_loss"] > ref["test_loss"])
    return any(better) and not any(worse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="a fixed key for every trial and the defaults run (KEY=VALUE)")
    parser.add_argument("--space", action="append", default=[],
                        help="replace one space entry: KEY={low=.., high=..} or KEY=[...]")
    parser.add_argument("--defaults-run", type=Path,
                        help="read the defaults from this finished run instead of running them")
    parser.add_argument("--workers", type=int, default=1, help="sweep worker processes")
    parser.add_argument("--resume", action="store_true", help="continue the sweep in --out")
    parser.add_argument("--verify-pruned", action="store_true")
    parser.add_argument("--report-only", action="store_true",
                        help="summarise the study in --out as it stands (no trials run)")
    parser.add_argument("--skip-best", action="store_true", help="do not run best.toml again")
    parser.add_argument("--skip-defaults", action="store_true",
                        help="compare with the issue's default figures instead of a run")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    folder = args.out / "sweep"
    config = with_overrides(EXAMPLE, args.overrides, args.space, args.out)
    started = time.perf_counter()
    if args.report_only:
        pass
    elif args.resume:
        timed("sweep (resumed)", sweep, None, None, args.trials, args.workers, str(folder))
    else:
        timed("sweep", sweep, str(config), str(folder), args.trials, args.workers)
    sweep_s = time.perf_counter() - started
    spec, _ = prepare(None, None, str(folder), None)
    study, _ = load_studies(spec, open_storage(spec, folder))
    trials = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    rows = {t.number: {**t.user_attrs.get("metrics", {}), "state": t.state.name,
                       "params": t.params, "steps": t.user_attrs.get("steps", 0),
                       "run_dir": t.user_attrs.get("run_dir")} for t in trials}
    front = [t.number for t in study.best_trials]
    print(f"study: {dict(sorted(counts(study).items()))}")
    timing = "" if args.report_only else \
        f" in {sweep_s / 60:.1f} min, {args.workers} worker(s), one thread each"
    print(f"\nsweep: {len(trials)} trials ({sum(r['state'] == 'PRUNED' for r in rows.values())}"
          f" pruned){timing}")
    for n, r in rows.items():
        shown = (f"valid {r['valid']:.3f} test NLL {r['test_loss']:.4f}" if "valid" in r
                 else "pruned")
        print(f"  trial {n:>2} {'*' if n in front else ' '} {r['state']:<8} steps {r['steps']:>3}"
              f"  {shown}  {r['params']}")

    ref = dict(DEFAULTS)
    baseline = next((t for t in trials if t.user_attrs.get("enqueued")), None)
    if baseline is not None and baseline.state.name == "COMPLETE" and not args.defaults_run:
        ref = rows[baseline.number]
        print(f"defaults (trial {baseline.number}, enqueued: the shipped recipe): valid "
              f"{ref['valid']:.3f}, test NLL {ref['test_loss']:.4f}, {ref['steps']} steps "
              "(issue: valid 0.897, NLL 0.297)")
    elif args.defaults_run:
        summary = json.loads((args.defaults_run / "summary.json").read_text())
        ref = {**summary["metrics"]["after"], "steps": summary["train"]["steps"]}
        print(f"defaults ({args.defaults_run}): valid {ref['valid']:.3f}, test NLL "
              f"{ref['test_loss']:.4f}, {ref['steps']} steps (issue: valid 0.897, NLL 0.297)")
    elif not args.skip_defaults:
        fixed = [*args.overrides, "train.threads=1", "evaluate.fcd=false",
                 "evaluate.property_model=false", "before=false"]
        ref = timed("defaults run", run_once, plugin="molecules", overrides=fixed,
                    out=args.out / "defaults")
        print(f"defaults (measured here): valid {ref['valid']:.3f}, test NLL "
              f"{ref['test_loss']:.4f}, {ref['steps']} steps (issue: valid 0.897, NLL 0.297)")
    winners = [n for n in front if beats(rows[n], ref)]
    print(f"Pareto trials that beat the defaults on one objective without losing on the "
          f"other: {winners or 'none'}")
    chosen = chosen_trial(spec, study)
    print(f"best.toml copies trial {chosen.number if chosen else None}")
    if chosen is not None and chosen.state.name == "COMPLETE":  # what the two objectives omit
        side = ("unique", "novelty", "IntDiv", "max_sim_test", "QED", "SA")
        mine = rows[chosen.number]
        print("  beside the defaults: " + ", ".join(
            f"{k} {mine[k]:.3f} ({ref[k]:.3f})" for k in side if k in mine and k in ref))

    steps_run = sum(r["steps"] for r in rows.values())
    pruned = {n: r for n, r in rows.items() if r["state"] == "PRUNED"}
    unpruned = {n: r["params"]["train.max_steps"] for n, r in pruned.items()}
    if args.verify_pruned:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        start = time.perf_counter()
        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context(
                "spawn")) as pool:  # as many at once as the sweep had workers
            jobs = {n: pool.submit(run_once, config_file=folder / "base.toml",
                                   overrides=spec.overrides(r["params"]),
                                   out=args.out / "unpruned", name=f"trial-{n:03d}")
                    for n, r in pruned.items()}
            results = {n: job.result() for n, job in jobs.items()}
        print(f"[pruned trials run to the end] {time.perf_counter() - start:.0f} s")
        for n, got in results.items():
            unpruned[n] = got["steps"]
            print(f"  trial {n} unpruned: valid {got['valid']:.3f} test NLL "
                  f"{got['test_loss']:.4f}; beats a Pareto trial: "
                  f"{any(beats(got, rows[m]) for m in front)}; beats the chosen trial "
                  f"{chosen.number if chosen else None}: "
                  f"{bool(chosen) and beats(got, rows[chosen.number])}")
    full = steps_run - sum(r["steps"] for r in pruned.values()) + sum(unpruned.values())
    print(f"pruning: {steps_run} steps run, {full} unpruned "
          f"({'measured' if args.verify_pruned else 'upper bound: train.max_steps'}); saved "
          f"{1 - steps_run / max(full, 1):.0%}")

    best = folder / "best.toml"
    if best.is_file() and not args.skip_best:
        header = best.read_text().splitlines()[0]
        again = timed("best.toml again", run_once, config_file=best, out=args.out / "best")
        print(f"{header}\nbest.toml run again: valid {again['valid']:.3f}, test NLL "
              f"{again['test_loss']:.4f}")
    (args.out / "bench.json").write_text(json.dumps({"rows": rows, "front": front,
                                                     "defaults": ref, "sweep_s": sweep_s},
                                                    indent=2, default=str))


if __name__ == "__main__":
    main()
