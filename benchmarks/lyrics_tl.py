"""Does transfer learning pay on lyrics? Base vs fine-tuned vs from-scratch, on the sonnets.

One invocation makes two tlgen runs on the shipped sonnets (15 held out):
  1. the default lyrics run: SmolLM2-135M-Instruct, before (base) and after LoRA fine-tuning;
  2. the same architecture with random weights, trained in full on the sonnets only,
     for the same number of steps and tokens.
It prints held-out perplexity (core's ``val_perplexity``) and the rhyme/meter/copy metrics
of each model's samples beside the real held-out sonnets, and last the ratio fine-tuned /
scratch perplexity (target: <= 0.5), then the sample targets (>= 90% of songs with the
artist's line count, scheme F1 >= 0.45, copied 8-gram share <= 5%), each met or not.

    python benchmarks/lyrics_tl.py [--steps N] [--set train.threads=1] [--output-dir DIR]
"""

from __future__ import annotations

import argparse
import time

from tlgen import Run
from tlgen.plugins.lyrics.data import load_songs
from tlgen.plugins.lyrics.metrics import judge


def timed_run(overrides: list[str], name: str, output_dir: str) -> tuple[dict, float, Run]:
    """Execute one lyrics run; return its summary, wall time in seconds and the run."""
    start = time.perf_counter()
    run = Run.create("lyrics", overrides=overrides, output_dir=output_dir, name=name)
    summary = run.execute()
    return summary, time.perf_counter() - start, run


def artist_metrics(run: Run) -> dict[str, float]:
    """The song metrics of the run's held-out real songs (the reference column)."""
    d = run.config.data
    songs = load_songs(d.path, d.validation_fraction, run.config.seed)
    return judge(songs.validation, songs.train, run.config.evaluate)


def main() -> None:
    """Run both trainings and print the comparison, the perplexity ratio last."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--steps", type=int,
                        help="optimizer steps of both runs (default: the plugin's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for both runs (repeatable), e.g. "
                             "train.threads=1")
    parser.add_argument("--output-dir", default="runs/benchmarks")
    args = parser.parse_args()
    overrides = [*([f"train.max_steps={args.steps}"] if args.steps else []), *args.set]

    tuned, tuned_s, tuned_run = timed_run(overrides, "lyrics-finetune", args.output_dir)
    scratch, scratch_s, _ = timed_run(
        [*overrides, "backbone.from_scratch=true", "freeze.strategy='full'", "before=false"],
        "lyrics-scratch", args.output_dir)

    columns = {
        "artist (held-out)": artist_metrics(tuned_run),
        "base": tuned["metrics"]["before"],
        "fine-tuned": tuned["metrics"]["after"],
        "scratch": scratch["metrics"]["after"],
    }
    keys = list(columns["fine-tuned"])
    print(f"\n{'metric':<22}" + "".join(f"{c:>19}" for c in columns))
    for key in keys:
        cells = (columns[c].get(key) for c in columns)
        print(f"{key:<22}" + "".join(f"{'-' if v is None else f'{v:.4g}':>19}" for v in cells))
    print(f"\nwall time: fine-tune run {tuned_s:.0f} s ({tuned['train']['steps']} steps, "
          f"{tuned['train']['tokens']:,} tokens), scratch run {scratch_s:.0f} s")
    ratio = columns["fine-tuned"]["val_perplexity"] / columns["scratch"]["val_perplexity"]
    print(f"held-out perplexity fine-tuned / scratch: {ratio:.3f} (target <= 0.5)")
    print_targets(columns["fine-tuned"], ratio)


TARGETS = [  # (what, metric, at least?, bound)
    ("samples with the artist's line count", "usual_line_count_share", True, 0.9),
    ("end-rhyme scheme F1 (GPoeT: 0.45 rhyming)", "scheme_f1", True, 0.45),
    ("copied 8-gram share", "copied_8gram_share", False, 0.05),
]


def print_targets(tuned: dict[str, float], ratio: float) -> None:
    """Each target of the fine-tuned samples, met or not."""
    rows = [(what, tuned[key], ">=" if low else "<=", bound,
             tuned[key] >= bound if low else tuned[key] <= bound)
            for what, key, low, bound in TARGETS]
    rows.append(("perplexity fine-tuned / scratch", ratio, "<=", 0.5, ratio <= 0.5))
    for what, value, op, bound, met in rows:
        print(f"  {'met' if met else 'NOT met':<8} {what}: {value:.3f} (target {op} {bound})")


if __name__ == "__main__":
    main()
