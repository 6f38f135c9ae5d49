"""Report sections: perplexity curve, artist vs before vs after, syllable and length
distributions, and the songs side by side with their rhyme schemes marked.

Sections are data (figures and tables) that core renders; each sample's figures come from
its stage's ``item_metrics`` rows and the artist's songs from the data, so nothing is read
back from disk.
"""

from __future__ import annotations

import math
from pathlib import Path

from tlgen.figures import save_figure

from . import metrics as m
from .data import Songs

SYLLABLE_CAP, LINE_CAP = 30, 40
ARTIST = "artist (held-out songs)"


def perplexity_curve(run_dir: Path, results: dict) -> list[tuple[int, float]]:
    """(step, held-out perplexity): the base model's at step 0, then each evaluation's."""
    from tlgen.report import read_metrics

    curve = [(r["step"], math.exp(min(r["val_loss"], 50.0))) for r in read_metrics(run_dir)
             if r.get("split") == "eval" and "val_loss" in r]
    before = results.get("before")
    if before is not None and "val_perplexity" in before.metrics:
        curve.insert(0, (0, before.metrics["val_perplexity"]))
    return curve


def perplexity_plot(run_dir: Path, results: dict) -> Path | None:
    """figures/perplexity.png: held-out perplexity against training steps."""
    from tlgen.report import plt

    curve = perplexity_curve(run_dir, results)
    if not curve:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(*zip(*curve), marker="o")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("held-out perplexity")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, run_dir, "perplexity")


def shape_plot(run_dir: Path, rows: dict[str, list[dict]]) -> Path:
    """figures/shapes.png: syllables per line and lines per song of each group of ``shape`` rows
    (the artist's, each stage's ``song_row`` rows)."""
    from tlgen.report import plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for label, songs in rows.items():
        syl = [min(int(n), SYLLABLE_CAP) for row in songs for n in row["line_syllables"].split()]
        counts = [min(row["lines"], LINE_CAP) for row in songs]
        for ax, values, cap in zip(axes, (syl, counts), (SYLLABLE_CAP, LINE_CAP)):
            if values:
                ax.hist(values, bins=range(cap + 2), density=True, histtype="step", label=label,
                        linewidth=1.5)
    axes[0].set_xlabel(f"syllables per line (longer lines counted at {SYLLABLE_CAP})")
    axes[1].set_xlabel(f"lines per song (longer songs counted at {LINE_CAP})")
    axes[1].legend()
    fig.tight_layout()
    return save_figure(fig, run_dir, "shapes")


def comparison_table(artist: dict[str, float], metrics: dict[str, dict]) -> dict:
    """Every metric for the held-out real songs and for each stage's samples (a row per
    metric; the artist has no held-out loss, so those cells stay empty)."""
    keys = list(dict.fromkeys([*(k for stage in metrics.values() for k in stage), *artist]))
    return {"columns": ["metric", ARTIST, *metrics],
            "rows": [[k, artist.get(k), *(stage.get(k) for stage in metrics.values())]
                     for k in keys]}


def marked(row: dict) -> dict:
    """A song's ``song_row`` as an annotated-text cell: its scheme as heading, each line
    labelled with its end-rhyme letter (section tags and blank lines unlabelled, shown in
    italics)."""
    pairs = zip(row["letters"], row["song"].split("\n"))
    lines = [[letter.strip(), line] for letter, line in pairs]
    return {"heading": row["scheme"], "lines": lines}


def side_by_side(columns: dict[str, list[dict]]) -> dict:
    """A table: one row per prompt, one column per source of songs (their ``song_row``
    rows), rhyme letters marked."""
    rows = [[marked(songs[i]) if i < len(songs) else None for songs in columns.values()]
            for i in range(max(map(len, columns.values()), default=0))]
    return {"columns": list(columns), "rows": rows}


def sections(run, songs: Songs, results: dict, notes: list[str] = ()) -> list[dict]:
    """The lyrics plugin's report sections, from the artist's songs, the data ``notes`` and
    the stages' results."""
    cfg = run.config.evaluate
    rows = {stage: result.items for stage, result in results.items()}
    artist = m.judge(songs.validation, songs.train, cfg)
    columns = dict(rows)
    if not run.config.sample.prompts:  # the prompts were the held-out songs' first lines
        n = max(map(len, rows.values()), default=0)
        held_out = m.song_rows(songs.validation, songs.train, cfg)
        columns["the artist's held-out song"] = [held_out[i % len(held_out)] for i in range(n)]
    return [
        {"title": "Training data", "items": list(notes)},
        {"title": "Held-out perplexity", "image": perplexity_plot(run.dir, results)},
        {"title": "The artist's songs vs the model's",
         "table": comparison_table(artist, {s: r.metrics for s, r in results.items()})},
        {"title": "Line and song shapes (the artist's training songs against the samples)",
         "image": shape_plot(run.dir, {"artist": [m.shape(s) for s in songs.train], **rows})},
        {"title": "Songs from the same prompt (end-rhyme letters marked)",
         "table": side_by_side(columns)},
    ]
