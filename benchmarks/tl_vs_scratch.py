"""Transfer learning vs training from scratch on the CHEMBL2321810 scaffold split.

    python benchmarks/tl_vs_scratch.py [--steps 300] [--n 1000] [--out runs/tl_vs_scratch]

Three models, one held-out test split (scaffolds unseen in training):
  prior          the shipped MOSES prior, no fine-tuning
  prior + FT     the prior fine-tuned with the default recipe (freeze-first:2)
  scratch        the same architecture trained on the series only, all weights, same steps
Each row: held-out loss (core's ``test_loss``, the mean NLL per token in nats), validity,
novelty, held-out scaffold recovery and the property model's mean predicted pIC50 of the
samples. The loss figure is printed last.
"""

from __future__ import annotations

import argparse
import json

from tlgen import Run
from tlgen.plugins.molecules.backbone import SHIPPED_PRIOR

SHOWN = ["test_loss", "valid", "unique", "novelty", "SNN/Test", "scaffold_recovery", "pred_mean"]


def run(label: str, overrides: list[str], out: str) -> dict:
    print(f"--- {label}", flush=True)
    return Run.create("molecules", overrides=overrides, output_dir=out, name=label).execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="runs/tl_vs_scratch")
    args = parser.parse_args()
    prior = json.loads((SHIPPED_PRIOR / "config.json").read_text())
    common = [f"train.max_steps={args.steps}", f"sample.n={args.n}",
              f"train.threads={args.threads}", "train.early_stopping_patience=0"]
    tuned = run("prior-finetuned", common, args.out)
    scratch = run("scratch", [*common, "before=false", "backbone.from_scratch=true",
                              "freeze.strategy=full", f"backbone.n_layer={prior['n_layer']}",
                              f"backbone.n_embd={prior['n_embd']}",
                              f"backbone.n_head={prior['n_head']}",
                              f"backbone.n_inner={prior['n_inner']}",
                              f"backbone.n_positions={prior['n_positions']}"], args.out)
    rows = {"prior": tuned["metrics"]["before"], "prior + FT": tuned["metrics"]["after"],
            "scratch": scratch["metrics"]["after"]}
    print(f"\n{'model':<12}" + "".join(f"{k:>19}" for k in SHOWN))
    for name, metrics in rows.items():
        print(f"{name:<12}" + "".join(f"{metrics.get(k, float('nan')):>19.4f}" for k in SHOWN))
    nll = {name: metrics["test_loss"] for name, metrics in rows.items()}
    print(f"\nheld-out NLL per token after {args.steps} steps: prior + FT {nll['prior + FT']:.3f}, "
          f"scratch {nll['scratch']:.3f}, prior {nll['prior']:.3f}")


if __name__ == "__main__":
    main()
