"""MOSES metrics of the shipped SMILES prior beside the published MOSES baselines.

    python benchmarks/moses_prior.py [--model FOLDER] [--n 30000] [--threads 2]

Samples ``n`` SMILES (MOSES recommends 30,000) and scores them as MOSES's
``get_all_metrics`` does, against the precomputed statistics of the full MOSES test
and scaffold-test sets shipped in the molsets wheel (FCD mean/covariance, SNN
fingerprints, fragment and scaffold counts) and novelty against all of MOSES train.
Published rows: molecularsets/moses README (mean over 3 runs).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tlgen.plugins.molecules import backbone, sampling
from tlgen.plugins.molecules.data import molecules as data
from tlgen.plugins.molecules.metrics import molecular as metrics

COLUMNS = ["valid", "unique@1k", "unique@10k", "FCD/Test", "FCD/TestSF", "SNN/Test", "SNN/TestSF",
           "Frag/Test", "Frag/TestSF", "Scaf/Test", "Scaf/TestSF", "IntDiv", "IntDiv2", "Filters",
           "Novelty"]
PUBLISHED = {
    "Train": [1.0, 1.0, 1.0, 0.008, 0.4755, 0.6419, 0.5859, 1.0, 0.9986, 0.9907, 0.0, 0.8567,
              0.8508, 1.0, 1.0],
    "CharRNN": [0.9748, 1.0, 0.9994, 0.0732, 0.5204, 0.6015, 0.5649, 0.9998, 0.9983, 0.9242,
                0.1101, 0.8562, 0.8503, 0.9943, 0.8419],
    "VAE": [0.9767, 1.0, 0.9984, 0.099, 0.567, 0.6257, 0.5783, 0.9994, 0.9984, 0.9386, 0.0588,
            0.8558, 0.8498, 0.997, 0.6949],
    "AAE": [0.9368, 1.0, 0.9973, 0.5555, 1.0572, 0.6081, 0.5677, 0.991, 0.9905, 0.9022, 0.0789,
            0.8557, 0.8499, 0.996, 0.7931],
    "JTN-VAE": [1.0, 1.0, 0.9996, 0.3954, 0.9382, 0.5477, 0.5194, 0.9965, 0.9947, 0.8964, 0.1009,
                0.8551, 0.8493, 0.976, 0.9143],
}


def moses_statistics(split: str) -> dict:
    """MOSES's precomputed reference statistics of ``split`` (test or test_scaffolds)."""
    path = data.package_file("moses", f"dataset/data/{split}_stats.npz")
    return np.load(path, allow_pickle=True)["stats"].item()


def score(samples: list[str]) -> dict[str, float]:
    """``moses.get_all_metrics`` on ``samples``, computed with the plugin's metric functions."""
    mols = [m for m in metrics.parse(samples) if m is not None]
    gen = metrics.canonical(mols)
    fps = metrics.fingerprints(mols)
    frags, scafs = metrics.fragments(mols), metrics.scaffolds(mols)
    fcd = metrics.fcd_model()
    gen_fcd = fcd.precalc(gen)
    out = {"valid": len(mols) / len(samples),
           "unique@1k": len(set(gen[:1000])) / min(1000, len(gen)),
           "unique@10k": len(set(gen[:10000])) / min(10000, len(gen))}
    for split, tag in (("test", "Test"), ("test_scaffolds", "TestSF")):
        stats = moses_statistics(split)
        out[f"FCD/{tag}"] = float(fcd.metric(stats["FCD"], gen_fcd))
        out[f"SNN/{tag}"] = float(metrics.max_similarity(stats["SNN"]["fps"], fps).mean())
        out[f"Frag/{tag}"] = metrics.cosine(stats["Frag"]["frag"], frags)
        out[f"Scaf/{tag}"] = metrics.cosine(stats["Scaf"]["scaf"], scafs)
    out["IntDiv"] = metrics.internal_diversity(fps, 1)
    out["IntDiv2"] = metrics.internal_diversity(fps, 2)
    out["Filters"] = float(np.mean([metrics.passes_moses_filters(m) for m in mols]))
    unique = set(gen)
    out["Novelty"] = len(unique - set(data.moses_smiles("train"))) / len(unique)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(backbone.SHIPPED_PRIOR))
    parser.add_argument("--n", type=int, default=30000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = backbone.load_pretrained(args.model)
    start = time.perf_counter()
    samples = sampling.generate(model, tokenizer, args.n, batch_size=1000, seed=args.seed)
    sampled = time.perf_counter() - start
    ours = score(samples)
    print(f"{args.n} samples from {args.model} in {sampled:.0f} s; scored in "
          f"{time.perf_counter() - start - sampled:.0f} s\n")
    rows = {**PUBLISHED, "tlgen prior": [ours[c] for c in COLUMNS]}
    print(f"{'model':<12}" + "".join(f"{c:>12}" for c in COLUMNS))
    for name, values in rows.items():
        print(f"{name:<12}" + "".join(f"{v:>12.4f}" for v in values))


if __name__ == "__main__":
    main()
