"""Report sections: property and similarity histograms, a grid of the best fine-tuned samples,
the data-cleaning notes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

STAGES = (("series", "held-out series"), ("before", "prior"), ("after", "fine-tuned"))
PANELS = (("QED", "QED"), ("SA", "SA score"), ("logP", "logP"), ("MW", "molecular weight"),
          ("predicted", "predicted activity"), ("max_sim_train", "max Tanimoto to training set"))


def histograms(scores: dict[str, pd.DataFrame], out: Path) -> Path | None:
    """One panel per score, the stages overlaid as density histograms."""
    panels = [(c, t) for c, t in PANELS
              if any(c in df and df[c].notna().any() for df in scores.values())]
    if not panels:
        return None
    fig, axes = plt.subplots(2, (len(panels) + 1) // 2, figsize=(4 * ((len(panels) + 1) // 2), 6.5),
                             squeeze=False)
    for ax, (column, title) in zip(axes.flat, panels):
        series = {label: scores[stage][column].dropna() for stage, label in STAGES
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
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def top_novel(scores: pd.DataFrame, count: int = 12) -> tuple[pd.DataFrame, str]:
    """The ``count`` best samples not in the training set, by predicted activity (else QED),
    and the score they were ranked by."""
    key = "predicted" if "predicted" in scores and scores["predicted"].notna().any() else "QED"
    return scores[scores["max_sim_train"] < 1].sort_values(key, ascending=False).head(count), key


def grid(scores: pd.DataFrame, out: Path, count: int = 12) -> Path | None:
    """The best novel fine-tuned samples drawn with their scores."""
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


def sections(run_dir: Path, scores: dict[str, dict], notes: list[str]) -> list[dict]:
    """The molecules plugin's report sections, from the per-molecule scores by stage
    (``"series"``, ``"before"``, ``"after"``) and the data-cleaning notes."""
    tables = {stage: pd.DataFrame(table) for stage, table in scores.items()}
    out = []
    figure = histograms(tables, Path(run_dir) / "properties.png")
    if figure:
        out.append({"title": "Properties and similarity: series vs prior vs fine-tuned",
                    "image": figure})
    if "after" in tables:
        picture = grid(tables["after"], Path(run_dir) / "top_samples.png")
        if picture:
            out.append({"title": "Top fine-tuned samples (novel; legend: predicted activity, "
                                 "QED, SA, max Tanimoto to training set)", "image": picture})
    if notes:
        out.append({"title": "Data cleaning", "items": list(notes)})
    return out
