"""Report sections: perplexity curve, artist vs before vs after, syllable and length
distributions, and the songs side by side with their rhyme schemes marked."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from . import metrics as m
from . import sampling
from .data import TAG, Songs

STAGES = ("before", "after")
SYLLABLE_CAP, LINE_CAP = 30, 40


def perplexity_plot(run_dir: Path, metrics: dict[str, dict]) -> Path | None:
    """perplexity.png: held-out perplexity against training steps."""
    from tlgen.report import plt, read_metrics

    curve = [(r["step"], math.exp(r["val_loss"])) for r in read_metrics(run_dir)
             if r.get("split") == "eval"]
    if "perplexity" in metrics.get("before", {}):
        curve.insert(0, (0, metrics["before"]["perplexity"]))
    if not curve:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(*zip(*curve), marker="o")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("held-out perplexity")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = run_dir / "perplexity.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def shape_plot(run_dir: Path, artist: list[str], samples: dict[str, list[str]]) -> Path:
    """shapes.png: syllables per line and lines per song, the artist's against the samples'."""
    from tlgen.report import plt

    groups = {"artist": artist, **samples}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for label, songs in groups.items():
        lines = [line for song in songs for stanza in m.stanzas(song) for line in stanza]
        syl = [min(m.syllables(line), SYLLABLE_CAP) for line in lines]
        counts = [min(sum(map(len, m.stanzas(song))), LINE_CAP) for song in songs]
        for ax, values, cap in zip(axes, (syl, counts), (SYLLABLE_CAP, LINE_CAP)):
            if values:
                ax.hist(values, bins=range(cap + 2), density=True, histtype="step", label=label,
                        linewidth=1.5)
    axes[0].set_xlabel(f"syllables per line (longer lines counted at {SYLLABLE_CAP})")
    axes[1].set_xlabel(f"lines per song (longer songs counted at {LINE_CAP})")
    axes[1].legend()
    fig.tight_layout()
    out = run_dir / "shapes.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def comparison_table(run_dir: Path, metrics: dict[str, dict]) -> str:
    """HTML table: every metric for the held-out real songs, before and after."""
    path = run_dir / "metrics_artist.json"
    artist = json.loads(path.read_text()) if path.is_file() else {}
    keys = list(dict.fromkeys([*metrics.get("before", {}), *metrics.get("after", {})]))
    cell = lambda v: "" if v is None else f"{v:.4g}"
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{cell(artist.get(k))}</td>"
        + "".join(f"<td>{cell(metrics.get(s, {}).get(k))}</td>" for s in STAGES) + "</tr>"
        for k in keys)
    return ("<table><tr><th>metric</th><th>artist (held-out songs)</th><th>before</th>"
            f"<th>after</th></tr>{rows}</table>")


def marked(song: str, window: int) -> str:
    """The song as HTML, each line prefixed by its end-rhyme letter (coloured by letter)."""
    letters = iter("".join(m.scheme(lines, window) for lines in m.stanzas(song)))
    out = []
    for line in song.split("\n"):
        if TAG.match(line) or not m.words(line):
            out.append(f"<i>{html.escape(line)}</i>")
            continue
        letter = next(letters)
        hue = (ord(letter) * 47) % 360
        out.append(f"<b style='color:hsl({hue},70%,38%);display:inline-block;width:1.3em'>"
                   f"{letter}</b>{html.escape(line)}")
    return "<br>".join(out)


def side_by_side(columns: dict[str, list[str]], window: int) -> str:
    """HTML table: one row per prompt, one column per source of songs, rhyme schemes marked."""
    rows = []
    for i in range(max(map(len, columns.values()), default=0)):
        cells = []
        for songs in columns.values():
            song = songs[i] if i < len(songs) else ""
            scheme = html.escape(m.song_scheme(song, window))
            cells.append(f"<td style='text-align:left;vertical-align:top'><code>{scheme}</code>"
                         f"<br><br>{marked(song, window)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    head = "".join(f"<th>{html.escape(name)}</th>" for name in columns)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def sections(run, metrics: dict[str, dict], songs: Songs) -> list[dict]:
    """The lyrics plugin's report sections."""
    window = run.config.evaluate.rhyme_window
    folders = {s: run.dir / "samples" / s for s in STAGES}
    samples = {s: sampling.load(f) for s, f in folders.items() if f.is_dir()}
    columns = dict(samples)
    if not run.config.sample.prompts:  # the prompts were the held-out songs' first lines
        n = max(map(len, samples.values()), default=0)
        columns["the artist's held-out song"] = [songs.validation[i % len(songs.validation)]
                                                 for i in range(n)]
    return [
        {"title": "Held-out perplexity", "image": perplexity_plot(run.dir, metrics)},
        {"title": "The artist's songs vs the model's", "html": comparison_table(run.dir, metrics)},
        {"title": "Line and song shapes", "image": shape_plot(run.dir, songs.train, samples)},
        {"title": "Songs from the same prompt (end-rhyme letters marked)",
         "html": side_by_side(columns, window)},
    ]
