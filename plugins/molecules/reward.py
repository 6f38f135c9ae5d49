"""The reward hook's work: score a batch of SMILES for the reward stage.

Every molecule is scored once (an oracle call, counted on unique canonical SMILES as PMO
does); what was scored is remembered in ``run.state["reward"]`` (checkpointed with the
agent, so a resumed run scores exactly as an uninterrupted one). REINVENT's identical-Murcko
diversity filter then zeroes a repeated molecule and, once ``bucket_size`` molecules scoring
at least ``min_score`` share a scaffold, every further one of that scaffold.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem.Scaffolds import MurckoScaffold

from tlgen.types import Rewards

from .metrics import molecular as M
from .scoring import Scorer

KEY = "reward"
UNFILTERED = "before filter"  # the score before the diversity filter, beside the components


def memory(run) -> dict:
    """The reward stage's memory in ``run.state``: every scored molecule's
    ``(score, transformed, raw, scaffold)`` by canonical SMILES, and the filter's buckets."""
    return run.state.setdefault(KEY, {"molecules": {}, "buckets": Counter()})


def murcko(mol: Chem.Mol) -> str:
    """The Bemis-Murcko scaffold's SMILES ("" for an acyclic molecule), as REINVENT's filter."""
    try:
        return Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(mol))
    except (ValueError, RuntimeError):
        return ""


def score_batch(run, scorer: Scorer, samples: list[str]) -> Rewards:
    """Scores in [0, 1] (0: invalid, repeated or filtered), each component's transformed value
    per sample (and the score before the diversity filter), validity, and the number of new
    molecules scored."""
    RDLogger.DisableLog("rdApp.*")  # invalid samples are expected; deepchem turns logs back on
    mols = M.parse(samples)
    keys = [Chem.MolToSmiles(m) if m is not None else None for m in mols]
    seen = memory(run)["molecules"]
    new = {k: m for k, m in zip(keys, mols) if k is not None and k not in seen}
    if new:
        total, done, raw = scorer(list(new.values()), list(new))
        for i, (key, mol) in enumerate(new.items()):
            seen[key] = (float(total[i]), tuple(done[:, i].tolist()), tuple(raw[:, i].tolist()),
                         murcko(mol))
    scores = _filtered(run, keys, set(new))
    width = len(scorer.labels)
    values = [seen[k][1] if k is not None else (0.0,) * width for k in keys]
    components = {label: [v[j] for v in values] for j, label in enumerate(scorer.labels)}
    if run.config.scoring.diversity_filter != "none":  # the objective the filter then cuts
        components[UNFILTERED] = [seen[k][0] if k is not None else 0.0 for k in keys]
    return Rewards(scores=scores, components=components, valid=[k is not None for k in keys],
                   calls=len(new))


def _filtered(run, keys: list[str | None], new: set[str]) -> list[float]:
    """Each sample's score after the diversity filter (or, without it, after zeroing the
    second copy of a molecule within the batch, as REINVENT does)."""
    cfg, state = run.config.scoring, memory(run)
    on = cfg.diversity_filter != "none"
    out, batch = [], set()
    for key in keys:
        repeated = key in batch or (on and key not in new)
        batch.add(key)
        if key is None or repeated:
            out.append(0.0)
            continue
        score, _, _, scaffold = state["molecules"][key]
        if on and score >= cfg.min_score:
            state["buckets"][scaffold] += 1
            score = 0.0 if state["buckets"][scaffold] > cfg.bucket_size else score
        out.append(score)
    return out


def best(run, count: int = 12) -> list[tuple[str, float, tuple, tuple]]:
    """The ``count`` best molecules scored so far: (SMILES, score, transformed, raw)."""
    seen = memory(run)["molecules"]
    top = sorted(seen.items(), key=lambda kv: -kv[1][0])[:count]
    return [(smiles, score, done, raw) for smiles, (score, done, raw, _) in top]


def summary(run) -> dict[str, float]:
    """Counts for the report: molecules scored, unique scaffolds, and how many molecules and
    scaffolds reached ``scoring.min_score``."""
    seen = memory(run)["molecules"]
    good = [v for v in seen.values() if v[0] >= run.config.scoring.min_score]
    scores = np.array([v[0] for v in seen.values()]) if seen else np.zeros(0)
    return {"molecules scored (unique, valid)": len(seen),
            "unique Murcko scaffolds": len({v[3] for v in seen.values()}),
            f"molecules scoring >= {run.config.scoring.min_score:g}": len(good),
            "their unique scaffolds": len({v[3] for v in good}),
            "best score": float(scores.max()) if scores.size else float("nan"),
            "mean of the top 10": float(np.sort(scores)[-10:].mean()) if scores.size else
            float("nan")}
