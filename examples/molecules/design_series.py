"""Fine-tune the SMILES prior on a ChEMBL series and list the most promising new molecules.

    python examples/molecules/design_series.py [--steps 300]
        [--data my_series.csv --smiles-column smiles --property-column pIC50]

Runs tlgen's molecules case study through the Python API, then ranks the fine-tuned
model's novel samples by the deepchem activity model's prediction, and samples a few
more molecules from the exported model with plain transformers + the plugin's sampler.
"""

from __future__ import annotations

import argparse

import pandas as pd

from tlgen import Run
from tlgen.plugins.molecules.backbone import load_pretrained
from tlgen.plugins.molecules.sampling import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--data", default="chembl2321810")
    parser.add_argument("--smiles-column")
    parser.add_argument("--property-column")
    args = parser.parse_args()
    overrides = [f"train.max_steps={args.steps}", f"data.source='{args.data}'"]
    if args.smiles_column:
        overrides.append(f"data.smiles_column='{args.smiles_column}'")
    if args.property_column:
        overrides.append(f"data.property_column='{args.property_column}'")

    run = Run.create("molecules", overrides=overrides, name="design")
    summary = run.execute()
    before, after = summary["metrics"]["before"], summary["metrics"]["after"]
    print(f"\nvalid {before['valid']:.3f} -> {after['valid']:.3f}; similarity to the series "
          f"{before['max_sim_train']:.3f} -> {after['max_sim_train']:.3f}")

    scores = pd.read_csv(run.dir / "samples" / "after" / "scores.csv")
    novel = scores[scores["max_sim_train"] < 1]
    key = "predicted" if "predicted" in novel else "QED"
    print(f"\ntop novel molecules by {key}:")
    print(novel.sort_values(key, ascending=False).head(10)[["smiles", key, "QED", "SA",
                                                           "max_sim_train"]].to_string(index=False))

    model, tokenizer = load_pretrained(run.dir / "model")  # plain Hugging Face folder
    more = generate(model, tokenizer, 5, seed=1)
    print("\nfive more from the exported model:", *more, sep="\n  ")


if __name__ == "__main__":
    main()
