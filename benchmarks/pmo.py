"""PMO (Gao et al. 2022, "Sample efficiency matters") on tlgen's reward stage from the shipped
prior: the 20 RDKit-computable tasks, each task's AUC top-10 beside REINVENT's published value.

    python benchmarks/pmo.py [--tasks median1 qed ...] [--seeds 0 1 2] [--budget 10000]
        [--set reward.explore='restart' ...] [--jobs 2] [-o runs/pmo]

The protocol: an oracle budget of 10,000 unique molecules (invalid ones are not calls); the
top-10 mean score logged every 100 calls; the area under that curve, normalised by the
budget (a run that stops early carries its last value to the end, as PMO does); 3 seeds.
Each task is a user-function scoring component (tlgen.plugins.molecules.pmo_tasks, GuacaMol's
definitions, checked against guacamol's own scoring). The three tasks that need TDC's trained
classifiers (drd2, gsk3b, jnk3) are not run; the sum printed is over the tasks run, beside
REINVENT's over the same tasks.

Settings: one file for every task, benchmarks/pmo.toml (PMO's tuned REINVENT ones: sigma 500,
lr 5e-4, batch 64, 24 replayed a step from the 100 best, drawn in proportion to score;
REINVENT's loss as its code has it: the batch's distinct sequences, plus 5,000 x mean(-1 /
log P_agent); no diversity filter; the stage spends the budget and restarts the agent from
the prior when it collapses); --set overrides.
--jobs runs that many task-seeds at once (one thread each).
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from rdkit import Chem, RDLogger

from tlgen import Run
from tlgen.plugins.molecules.pmo_tasks import TASKS

RDLogger.DisableLog("rdApp.*")
SETTINGS = Path(__file__).with_name("pmo.toml")
# REINVENT's AUC top-10 (mean, std over 5 seeds) in PMO: Gao et al. 2022, "Sample efficiency
# matters: a benchmark for practical molecular optimization" (NeurIPS Datasets and Benchmarks),
# its results table; as reprinted in Lee et al. 2024 (f-RAG, NeurIPS), Table 1 ("results for
# other baselines are taken from Gao et al."). Sum over all 23: 14.196 as published.
PUBLISHED = {
    "albuterol_similarity": (0.882, 0.006), "amlodipine_mpo": (0.635, 0.035),
    "celecoxib_rediscovery": (0.710, 0.067), "deco_hop": (0.666, 0.044),
    "drd2": (0.945, 0.007), "fexofenadine_mpo": (0.784, 0.006), "gsk3b": (0.865, 0.043),
    "isomers_c7h8n2o2": (0.852, 0.036), "isomers_c9h10n2o2pf2cl": (0.642, 0.054),
    "jnk3": (0.783, 0.023), "median1": (0.356, 0.009), "median2": (0.276, 0.008),
    "mestranol_similarity": (0.618, 0.048), "osimertinib_mpo": (0.837, 0.009),
    "perindopril_mpo": (0.537, 0.016), "qed": (0.941, 0.000), "ranolazine_mpo": (0.760, 0.009),
    "scaffold_hop": (0.560, 0.019), "sitagliptin_mpo": (0.021, 0.003),
    "thiothixene_rediscovery": (0.534, 0.013), "troglitazone_rediscovery": (0.441, 0.032),
    "valsartan_smarts": (0.178, 0.358), "zaleplon_mpo": (0.358, 0.062),
}


def top_auc(values: list[float], budget: int, top: int = 10, every: int = 100) -> float:
    """PMO's AUC of the top-``top`` mean over the oracle calls (``values`` in call order),
    logged every ``every`` calls, normalised by ``budget``; a short run carries its last
    value to the end."""
    values = values[:budget]
    total, previous, called = 0.0, 0.0, 0
    for n in range(every, len(values), every):
        now = float(np.mean(sorted(values[:n], reverse=True)[:top]))
        total += every * (now + previous) / 2
        previous, called = now, n
    now = float(np.mean(sorted(values, reverse=True)[:top]))
    total += (len(values) - called) * (now + previous) / 2
    total += (budget - len(values)) * now
    return total / budget


def oracle_calls(run_dir: Path, task: str, steps: list | None = None) -> list[float]:
    """The task's value of each new valid molecule, in the order the run scored them (from
    the run's scored.csv, the component column of the task); ``steps`` gets the step of each."""
    seen, values = set(), []
    with open(run_dir / "scored.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            mol = Chem.MolFromSmiles(row["sample"]) if row["sample"] else None
            key = Chem.MolToSmiles(mol) if mol is not None else None
            if key is not None and key not in seen:
                seen.add(key)
                values.append(float(row[task]))
                if steps is not None:
                    steps.append(int(row["step"]))
    return values


def run_seed(task: str, seed: int, args) -> dict:
    """One seed of one task through tlgen's Run API; the PMO numbers of it."""
    function = f"tlgen.plugins.molecules.pmo_tasks:{task}"
    overrides = [f"seed={seed}", f"reward.budget={args.budget}", f"train.threads={args.threads}",
                 f"scoring.components.{task}.type='function'",
                 f"scoring.components.{task}.function='{function}'", *args.set]
    start, cpu = time.perf_counter(), _cpu_seconds()
    run = Run.create("molecules", config_file=SETTINGS, overrides=overrides,
                     output_dir=args.output, name=f"pmo-{task}-s{seed}", device=args.device)
    summary = run.execute()["train"]
    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    values = oracle_calls(run.dir, task)
    logs = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    valid = float(np.mean([r["valid"] for r in logs if r.get("split") == "reward"]))
    return {"task": task, "seed": seed, "auc_top10": top_auc(values, args.budget),
            "top10": float(np.mean(sorted(values, reverse=True)[:10])), "calls": len(values),
            "steps": summary["steps"], "restarts": summary["restarts"], "valid": valid,
            "stopped": summary["stopped"], "wall_s": wall, "cpu_s": cpu,
            "stage_s": summary["train_seconds"], "run": str(run.dir)}


def _cpu_seconds() -> float:
    """This process's CPU time (user + system): a seed's cost on one core, whatever else the
    machine runs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _report(row: dict) -> None:
    print(f"{row['task']} seed {row['seed']}: AUC top-10 {row['auc_top10']:.3f}, top-10 "
          f"{row['top10']:.3f}, {row['calls']} calls in {row['steps']} steps "
          f"({row['restarts']} restarts), valid {row['valid']:.3f}, {row['wall_s']:.0f} s "
          f"({row['cpu_s']:.0f} CPU s); "
          f"stopped on {row['stopped'].split(':')[0]} ({row['run']})", flush=True)


def compare(run_dirs: list[str], calls: int) -> None:
    """Runs side by side over their first ``calls`` oracle calls (for runs cut short, e.g.
    the reward.explore settings): AUC top-10 over those calls, the top-10 then, and the
    steps they took."""
    import tomllib

    print(f"{'run':34} {'explore':>11} {'filter':>16} {'AUC top-10':>10} {'top-10':>7} "
          f"{'steps':>6}  (over the first {calls:,} calls)")
    for folder in map(Path, run_dirs):
        config = tomllib.loads((folder / "config.toml").read_text())
        task = next(iter(config["scoring"]["components"]))
        steps: list[int] = []
        values = oracle_calls(folder, task, steps)
        if len(values) < calls:
            print(f"{folder.name[-34:]:34} reached only {len(values):,} calls")
            continue
        print(f"{folder.name[-34:]:34} {config['reward'].get('explore', 'none'):>11} "
              f"{config['scoring'].get('diversity_filter', 'identical_murcko'):>16} "
              f"{top_auc(values[:calls], calls):>10.3f} "
              f"{np.mean(sorted(values[:calls], reverse=True)[:10]):>7.3f} {steps[calls - 1]:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=TASKS, choices=TASKS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="task-seeds run at once")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a tlgen override, e.g. --set reward.explore='none'")
    parser.add_argument("-o", "--output", default="runs/pmo")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--from-json", nargs="+", metavar="FILE",
                        help="run nothing: print the table of rows saved by --json")
    parser.add_argument("--compare", nargs="+", metavar="RUN_DIR",
                        help="run nothing: compare these runs over their first --calls calls")
    parser.add_argument("--calls", type=int, default=4000)
    args = parser.parse_args()
    if args.compare:
        compare(args.compare, args.calls)
        return
    if args.from_json:
        rows = [r for path in args.from_json for r in json.loads(Path(path).read_text())]
        table([t for t in TASKS if any(r["task"] == t for r in rows)], rows)
        return
    jobs = [(task, seed) for seed in args.seeds for task in args.tasks]
    rows = []
    spawn = multiprocessing.get_context("spawn")  # no CUDA or thread state inherited
    with ProcessPoolExecutor(args.jobs, mp_context=spawn) as pool:
        for done in as_completed([pool.submit(run_seed, t, s, args) for t, s in jobs]):
            rows.append(done.result())
            _report(rows[-1])
            if args.json:  # as they come: a run cut short keeps what finished
                Path(args.json).write_text(json.dumps(rows, indent=1))
    table(args.tasks, rows)


def table(tasks: list[str], rows: list[dict]) -> None:
    """Each task's mean AUC top-10 over its seeds beside REINVENT's, and the sums."""
    print(f"\n{'task':26} {'AUC top-10 (tlgen)':>18} {'REINVENT (PMO)':>16} {'diff':>7} "
          f"{'valid':>6} {'calls':>6} {'steps':>5} {'s/seed':>7} {'CPU s':>6}")
    mine_sum = theirs_sum = 0.0
    tasks = [t for t in tasks if any(r["task"] == t for r in rows)]
    for task in tasks:
        mine = [r for r in rows if r["task"] == task]
        aucs = [r["auc_top10"] for r in mine]
        spread = statistics.stdev(aucs) if len(aucs) > 1 else 0.0
        published = PUBLISHED[task]
        mine_sum, theirs_sum = mine_sum + statistics.mean(aucs), theirs_sum + published[0]
        print(f"{task:26} {statistics.mean(aucs):>10.3f} +- {spread:.3f} {published[0]:>8.3f} +- "
              f"{published[1]:.3f} {statistics.mean(aucs) - published[0]:>+7.3f} "
              f"{statistics.mean(r['valid'] for r in mine):>6.3f} "
              f"{statistics.mean(r['calls'] for r in mine):>6.0f} "
              f"{statistics.mean(r['steps'] for r in mine):>5.0f} "
              f"{statistics.mean(r['wall_s'] for r in mine):>7.0f} "
              f"{statistics.mean(r['cpu_s'] for r in mine):>6.0f}")
    seeds = len({r["seed"] for r in rows})
    print(f"{f'sum ({len(tasks)} tasks, {seeds} seeds)':26} "
          f"{mine_sum:>18.3f} {theirs_sum:>16.3f} {mine_sum - theirs_sum:>+7.3f}")


if __name__ == "__main__":
    main()
