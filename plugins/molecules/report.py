"""Report sections: property and similarity histograms, a grid of the best fine-tuned samples,
the data-cleaning notes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tlgen.figures import figure_path, save_figure
from tlgen.report import plt

STAGES = (("series", "held-out series"), ("before", "prior"), ("after", "fine-tuned"))
REWARD_STAGES = (("series", "held-out series"), ("before", "backbone"), ("after", "reward-tuned"))
PANELS = (("QED", "QED"), ("SA", "SA score"), ("logP", "logP"), ("MW", "molecular weight"),
          ("predicted", "predicted activity"), ("max_sim_train", "max Tanimoto to training set"))


def stage_table(items: list[dict]) -> pd.DataFrame:
    """A stage's unique valid molecules from its ``item_metrics`` rows, ``smiles`` canonical
    (what the histograms and the grid show)."""
    table = pd.DataFrame(items)
    table = table[table["valid"].astype(bool)].drop_duplicates("canonical")
    return table.assign(smiles=table["canonical"]).reset_index(drop=True)


def histograms(scores: dict[str, pd.DataFrame], run_dir: Path, stages=STAGES) -> Path | None:
    """figures/properties.png: one panel per score, the stages overlaid as density
    histograms."""
    panels = [(c, t) for c, t in PANELS
              if any(c in df and df[c].notna().any() for df in scores.values())]
    if not panels:
        return None
    fig, axes = plt.subplots(2, (len(panels) + 1) // 2, figsize=(4 * ((len(panels) + 1) // 2), 6.5),
                             squeeze=False)
    for ax, (column, title) in zip(axes.flat, panels):
        series = {label: scores[stage][column].dropna() for stage, label in stages
                  if stage in scores and column in scores[stage]}
        edges = np.histogram_bin_edges(np.concatenate([v.to_numpy() for v in series.values()]), 30)
        for label, values in series.items():
            if len(values):
                ax.hist(values, bins=edges, density=True, histtype="step", linewidth=1.6,
                        label=f"{label} (n={len(values)})")
        ax.set_title(title)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, run_dir, "properties", dpi=100)


def top_novel(scores: pd.DataFrame, count: int = 12) -> tuple[pd.DataFrame, str]:
    """The ``count`` best samples not in the training set, by predicted activity (else QED),
    and the score they were ranked by."""
    key = "predicted" if "predicted" in scores and scores["predicted"].notna().any() else "QED"
    return scores[scores["max_sim_train"] < 1].sort_values(key, ascending=False).head(count), key


def grid(scores: pd.DataFrame, out: Path, count: int = 12) -> Path | None:
    """The best novel fine-tuned samples drawn with their scores (an RDKit image, written
    to ``out``)."""
    from rdkit import Chem
    from rdkit.Chem import Draw

    top, key = top_novel(scores, count)
    if top.empty:
        return None
    legends = [
        (f"pred {r.predicted:.2f} " if key == "predicted" else "")
        + f"QED {r.QED:.2f} SA {r.SA:.1f} sim {r.max_sim_train:.2f}"
        for r in top.itertuples()
    ]
    image = Draw.MolsToGridImage([Chem.MolFromSmiles(s) for s in top["smiles"]], molsPerRow=4,
                                 subImgSize=(260, 220), legends=legends)
    image.save(out)
    return out


def sections(run_dir: Path, scores: dict[str, dict], notes: list[str],
             stages=STAGES) -> list[dict]:
    """The molecules plugin's report sections, from the per-molecule scores by stage
    (``"series"``, ``"before"``, ``"after"``, named by ``stages``) and the data notes."""
    tables = {stage: pd.DataFrame(table) for stage, table in scores.items()}
    out = []
    figure = histograms(tables, run_dir, stages)
    if figure:
        names = " vs ".join(name for stage, name in stages if stage in tables)
        out.append({"title": f"Properties and similarity: {names}", "image": figure})
    if "after" in tables:
        picture = grid(tables["after"], figure_path(run_dir, "top_samples"))
        if picture:
            out.append({"title": f"Top {stages[-1][1]} samples (novel; legend: predicted "
                                 "activity, QED, SA, max Tanimoto to training set)",
                        "image": picture})
    if notes:
        out.append({"title": "Data cleaning", "items": list(notes)})
    return out


def reward_sections(run, known: set[str], count: int = 12) -> list[dict]:
    """The reward stage's best molecules (a grid and a table of their components' raw values;
    those in ``known``, the training series, marked) and its diversity counts, from
    ``run.state``."""
    from .reward import best, summary

    top = best(run, count)
    if not top:
        return []
    labels = list(run.config.scoring.components)
    picture = best_grid(top, labels, known, figure_path(run.dir, "reward_best"))
    rows = [[smiles, "yes" if smiles in known else "", score, *raw]
            for smiles, score, _, raw in top]
    return [
        {"title": "Reward stage: best molecules (legend: score, then the components' raw "
                  "values; * a training molecule)", "image": picture},
        {"title": "Reward stage: best molecules and their components' raw values",
         "table": {"columns": ["SMILES", "in training set", "score", *labels], "rows": rows}},
        {"title": "Reward stage: molecules and scaffolds",
         "table": {"columns": ["", ""], "rows": [[k, v] for k, v in summary(run).items()]},
         "note": _filter_note(run.config.scoring)},
    ]


def best_grid(top: list, labels: list[str], known: set[str], out: Path) -> Path:
    """The best molecules drawn with their score and first raw values (* if ``known``)."""
    from rdkit import Chem
    from rdkit.Chem import Draw

    legends = [("* " if smiles in known else "") + f"{score:.3f} | "
               + " ".join(f"{label} {value:.3g}" for label, value in list(zip(labels, raw))[:3])
               for smiles, score, _, raw in top]
    image = Draw.MolsToGridImage([Chem.MolFromSmiles(s) for s, *_ in top], molsPerRow=4,
                                 subImgSize=(300, 240), legends=legends)
    image.save(out)
    return out


def _filter_note(cfg) -> str:
    if cfg.diversity_filter == "none":
        return "diversity filter off: only a second copy within a batch scored 0"
    return (f"diversity filter (identical Murcko scaffold): a repeated molecule scores 0, and "
            f"past {cfg.bucket_size} molecules scoring >= {cfg.min_score:g} with one scaffold, "
            "that scaffold scores 0")
