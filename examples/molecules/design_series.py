"""Fine-tune the SMILES prior on a ChEMBL series, then design new members of the series with
the reward stage, and list the best molecules.

    python examples/molecules/design_series.py [--steps 300] [--reward-steps 150]
        [--data my_series.csv --smiles-column smiles --property-column pIC50]

Step 1 is tlgen's molecules case study through the Python API; step 2 runs
examples/molecules/design_series.toml (predicted activity up, QED/SA kept, designs near the
series) from step 1's exported model, the chain that the TOML's comment does in a shell.
Last, a few molecules from the designed model with plain transformers + the plugin's sampler.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tlgen import Run
from tlgen.plugins.molecules.backbone import load_pretrained
from tlgen.plugins.molecules.reward import best
from tlgen.plugins.molecules.sampling import generate

DESIGN = Path(__file__).with_name("design_series.toml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--reward-steps", type=int, default=150)
    parser.add_argument("--data", default="chembl2321810")
    parser.add_argument("--smiles-column")
    parser.add_argument("--property-column")
    args = parser.parse_args()
    data = [f"data.source='{args.data}'"]
    if args.smiles_column:
        data.append(f"data.smiles_column='{args.smiles_column}'")
    if args.property_column:
        data.append(f"data.property_column='{args.property_column}'")

    tuned = Run.create("molecules", overrides=[f"train.max_steps={args.steps}", *data],
                       name="series")
    after = tuned.execute()["metrics"]["after"]
    print(f"\nfine-tuned: valid {after['valid']:.3f}, predicted activity "
          f"{after.get('pred_mean', float('nan')):.2f}")

    design = Run.create(config_file=DESIGN, overrides=[
        f"backbone.path='{tuned.dir / 'model'}'", f"reward.max_steps={args.reward_steps}", *data])
    metrics = design.execute()["metrics"]
    start, end = metrics["before"], metrics["after"]
    print(f"\ndesign: valid {start['valid']:.3f} -> {end['valid']:.3f}, predicted activity "
          f"{start.get('pred_mean', float('nan')):.2f} -> {end.get('pred_mean', float('nan')):.2f}")
    labels = list(design.config.scoring.components)
    print("\nbest designs (score, then each component's raw value):")
    for smiles, score, _, raw in best(design, 10):
        values = " ".join(f"{k} {v:.3g}" for k, v in zip(labels, raw))
        print(f"  {score:.3f}  {values}  {smiles}")

    model, tokenizer = load_pretrained(design.dir / "model")  # plain Hugging Face folder
    more = generate(model, tokenizer, 5, seed=1)
    print("\nfive more from the designed model:", *more, sep="\n  ")


if __name__ == "__main__":
    main()
