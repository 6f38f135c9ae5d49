"""``tlgen compare``: one case study under several transfer-learning variants.

Each variant is a normal run (its own folder) of the same plugin and config with one
change: the freeze strategy of the pretrained backbone (``full``, ``freeze-first:N``,
``lora``, ...) or ``scratch`` (the same architecture from random weights, trained in
full). One comparison report puts their metrics, learning curves and compute side by
side, with the pretrained backbone before fine-tuning as the baseline row.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

from .errors import TlgenError
from .files import short, writable_folder
from .report import plt, read_metrics, render
from .run import Run

DEFAULT_VARIANTS = ("full", "freeze-first:2", "lora", "scratch")


def variant_overrides(variant: str) -> list[str]:
    if variant == "scratch":
        return ["backbone.from_scratch=true", "freeze.strategy='full'"]
    return [f"freeze.strategy='{variant}'"]


def compare(plugin: str | None, config_file: str | None = None, overrides: Sequence[str] = (),
            variants: Sequence[str] = DEFAULT_VARIANTS, output_dir: str = "runs",
            device: str | None = None) -> Path:
    """Run every variant and write ``<output_dir>/<time>-compare-<plugin>/comparison.html``."""
    if not variants:
        raise TlgenError("compare needs at least one --variant")
    label = Path(plugin or "run").stem
    folder = Path(output_dir) / f"{time.strftime('%Y%m%d-%H%M%S')}-compare-{label}"
    writable_folder(folder, "output folder (-o)")

    def create(i: int, variant: str) -> Run:
        changes = [*overrides, *variant_overrides(variant), f"before={i == 0}"]
        try:
            return Run.create(plugin, config_file=config_file, device=device, output_dir=folder,
                              name=variant.replace(":", "-"), overrides=changes)
        except TlgenError as exc:
            raise TlgenError(f"--variant {short(variant)}: {exc}") from None

    for i, variant in enumerate(variants):  # every variant is checked before the first trains
        create(i, variant)
    results = {}
    for i, variant in enumerate(variants):
        run = create(i, variant)
        run.log(f"== variant {variant} ==")
        summary = run.execute()
        if i == 0 and "before" in summary["metrics"]:
            results["pretrained, no fine-tuning"] = {"metrics": summary["metrics"]["before"],
                                                     "train": {}, "dir": None}
        results[variant] = {"metrics": summary["metrics"]["after"], "train": summary["train"],
                            "dir": run.dir}
    (folder / "comparison.json").write_text(json.dumps(results, indent=2, default=str))
    return write_comparison(folder, results)


def plot_curves(folder: Path, results: dict) -> Path:
    """Validation (or training) loss of every variant against tokens seen."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for variant, result in results.items():
        if result["dir"] is None:
            continue
        records = read_metrics(result["dir"])
        train = [r for r in records if r.get("split") == "train"]
        val = [(r["step"], r["val_loss"]) for r in records if r.get("split") == "eval"]
        if train:
            unit = next(k for k in train[0] if k not in ("step", "split", "loss", "lr", "epoch",
                                                          "time") and not k.endswith("_per_s"))
            axes[0].plot([r[unit] for r in train], [r["loss"] for r in train], label=variant)
            axes[0].set_xlabel(f"{unit} seen")
        if val:
            axes[1].plot(*zip(*val), marker="o", label=variant)
    axes[0].set_ylabel("training loss")
    axes[1].set_xlabel("optimizer step")
    axes[1].set_ylabel("validation loss")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = folder / "curves.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def write_comparison(folder: Path, results: dict) -> Path:
    """comparison.html: metrics per variant, compute used, overlaid learning curves."""
    names = list(results)
    metrics = list(dict.fromkeys(k for r in results.values() for k in r["metrics"]))
    compute = ["steps", "tokens", "items", "images", "train_seconds", "trainable_params",
               "total_params", "best_val_loss"]
    compute = [c for c in compute if any(c in r["train"] for r in results.values())]

    def table(keys: list[str], field: str) -> dict:
        return {"columns": ["", *names],
                "rows": [[k, *(results[n][field].get(k) for n in names)] for k in keys]}

    links = [{"href": f"{r['dir'].name}/report.html", "text": f"{n}: report"}
             for n, r in results.items() if r["dir"] is not None]
    sections = [{"title": "Metrics of the samples", "table": table(metrics, "metrics")},
                {"title": "Compute used", "table": table(compute, "train")},
                {"title": "Learning curves", "image": plot_curves(folder, results)},
                {"title": "Runs", "items": links}]
    return render(folder / "comparison.html", "Transfer learning vs from scratch", sections)
