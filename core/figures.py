"""Where report figures go, and how they are written: ``<run>/figures/<name>.png``.

Every plugin and core's own report save through ``save_figure``, so a run folder keeps its
plots in one place and each figure is closed once written (no pyplot state leaks from one
run to the next in a process that runs many: a sweep, a server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FIGURES = "figures"


def figure_path(run_dir: str | Path, name: str) -> Path:
    """``<run_dir>/figures/<name>`` (``.png`` added when ``name`` has no suffix); the
    folder is created."""
    path = Path(run_dir) / FIGURES / name
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig: Any, run_dir: str | Path, name: str, dpi: int = 110) -> Path:
    """Write a matplotlib figure to ``figure_path(run_dir, name)`` and close it."""
    import matplotlib.pyplot as plt

    out = figure_path(run_dir, name)
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return out
