"""Report sections: property and similarity histograms, and a grid of the best fine-tuned samples."""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

STAGES = (("series", "held-out series"), ("before", "prior"), ("after", "fine-tuned"))
PANELS = (("QED", "QED"), ("SA", "SA score"), ("logP", "logP"), ("MW", "molecular weight"),
          ("predicted", "predicted activity"), ("max_sim_train", "max Tanimoto to training set"))


def read_scores(run_dir: Path) -> dict[str, pd.DataFrame]:
    """The per-molecule score tables that evaluate wrote, by stage."""
    found = {}
    for stage, _ in STAGES:
        path = Path(run_dir) / "samples" / f"{stage}_scores.csv"
        if path.is_file():
            found[stage] = pd.read_csv(path)
    return found


def histograms(scores: dict[str, pd.DataFrame], out: Path) -> Path | None:
    """One panel per score, the stages overlaid as density histograms."""
    panels = [(c, t) for c, t in PANELS if any(c in df and df[c].notna().any() for df in scores.values())]
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


def grid(scores: pd.DataFrame, out: Path, count: int = 12) -> Path | None:
    """The best novel fine-tuned samples (by predicted activity, else QED) drawn with their scores."""
    from rdkit import Chem
    from rdkit.Chem import Draw

    key = "predicted" if "predicted" in scores and scores["predicted"].notna().any() else "QED"
    top = scores[scores["max_sim_train"] < 1].sort_values(key, ascending=False).head(count)
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


def sections(run, metrics: dict[str, dict]) -> list[dict]:
    """The molecules plugin's report sections."""
    scores = read_scores(run.dir)
    out = []
    figure = histograms(scores, run.dir / "properties.png")
    if figure:
        out.append({"title": "Properties and similarity: series vs prior vs fine-tuned",
                    "image": figure})
    if "after" in scores:
        picture = grid(scores["after"], run.dir / "top_samples.png")
        if picture:
            out.append({"title": "Top fine-tuned samples (novel; legend: predicted activity, "
                                 "QED, SA, max Tanimoto to training set)", "image": picture})
    notes = run.dir / "data_notes.txt"
    if notes.is_file() and notes.read_text().strip():
        items = "".join(f"<li>{html.escape(line)}</li>" for line in notes.read_text().splitlines())
        out.append({"title": "Data cleaning", "html": f"<ul>{items}</ul>"})
    return out
