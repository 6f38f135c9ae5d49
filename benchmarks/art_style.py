"""Art benchmark: style transfer of content photos, base vs fine-tuned, at each strength.

One run of the art plugin (default: the shipped pixel DDPM fine-tuned on the Van Gogh
set), then, per strength, the style distance of the outputs to the style set relative to
each content image (style change; target -50%) and their content SSIM (target >= 0.5),
per image and on average. The headline figure is printed last: the best fine-tuned style
change among strengths whose SSIM is at least 0.5. For scale it also prints what the metric
calls "in style": each style image's distance to the other style images.

    python benchmarks/art_style.py                      # a new default run
    python benchmarks/art_style.py --set train.max_steps=600
    python benchmarks/art_style.py --run runs/<time>-art  # measure an existing run
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tlgen.plugins.art.evaluation import read_scores

TARGET_CHANGE, TARGET_SSIM = -0.5, 0.5


def per_image(run_dir: Path, stage: str) -> dict[tuple[str, float], dict]:
    """(content, strength) -> the stage's scores.csv row: style distance, change, SSIM."""
    return {(row["content"], row["strength"]): {**row, "change": row["style_change"]}
            for row in read_scores(run_dir / "samples" / stage / "scores.csv")
            if row["kind"] == "stylised"}


def table(run_dir: Path) -> list[dict]:
    """One row per (content, strength) and one 'mean' row per strength."""
    before, after = per_image(run_dir, "before"), per_image(run_dir, "after")
    rows = []
    for strength in sorted({s for _, s in after}):
        keys = [k for k in after if k[1] == strength]
        for key in keys + [None]:
            picked = keys if key is None else [key]
            row = {"content": "mean" if key is None else key[0], "strength": strength}
            for stage, found in (("base", before), ("tuned", after)):
                for metric in ("style_dist", "change", "ssim"):
                    values = [found[k][metric] for k in picked if k in found]
                    row[f"{stage}_{metric}"] = sum(values) / len(values) if values else None
            rows.append(row)
    return rows


def show(rows: list[dict]) -> None:
    cols = ("content", "strength", "base_style_dist", "base_change", "base_ssim",
            "tuned_style_dist", "tuned_change", "tuned_ssim")
    print("  ".join(f"{c:>16}" for c in cols))
    for row in rows:
        cells = []
        for c in cols:
            v = row[c]
            cells.append(f"{v:>16}" if isinstance(v, str) else f"{'-':>16}" if v is None else
                         f"{v:>+16.1%}" if "change" in c else f"{v:>16.3f}")
        print("  ".join(cells))


def style_reference(run_dir: Path) -> list[tuple[str, float]]:
    """What the metric calls "in style": each style image's distance to the others (leave one
    out), at the size the run measured its outputs."""
    from tlgen import Run
    from tlgen.plugins.art.images import load
    from tlgen.plugins.art.style import held_out_distances

    config = Run.open(run_dir).config
    paths, images = zip(*load(config.data.style, "data.style"), strict=True)
    return list(zip((p.stem for p in paths),
                    held_out_distances(list(images), config.sample.content_size), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="measure this finished run instead of a new one")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="config override for the new run")
    parser.add_argument("--output-dir", default="runs")
    args = parser.parse_args()
    if args.run is None:
        from tlgen import Run

        start = time.perf_counter()
        run = Run.create("art", overrides=args.overrides, output_dir=args.output_dir)
        run.execute()
        args.run = run.dir
        print(f"run: {run.dir} in {time.perf_counter() - start:.0f} s")
    rows = table(args.run)
    show(rows)
    reference = style_reference(args.run)
    contents = [row for row in read_scores(args.run / "samples" / "after" / "scores.csv")
                if row["kind"] == "content"]
    print("for scale, style distance of each style image to the other style images (leave one "
          "out): " + ", ".join(f"{name} {d:.2f}" for name, d in reference))
    print("and of the content images: " + ", ".join(
        f"{row['content']} {row['style_dist']:.2f}" for row in contents))
    means = [r for r in rows if r["content"] == "mean" and r["tuned_ssim"] is not None]
    kept = [r for r in means if r["tuned_ssim"] >= TARGET_SSIM]
    print(f"figure: {args.run / 'figures' / 'style_transfer.png'}")
    if not kept:
        print(f"art_style: no strength keeps SSIM >= {TARGET_SSIM} (target not met)")
        return
    best = min(kept, key=lambda r: r["tuned_change"])
    verdict = "met" if best["tuned_change"] <= TARGET_CHANGE else "not met"
    base = "-" if best["base_change"] is None else f"{best['base_change']:+.1%}"
    print(f"art_style: style distance {best['tuned_change']:+.1%} vs content (base "
          f"{base}) at strength {best['strength']:g}, SSIM "
          f"{best['tuned_ssim']:.2f}; target {TARGET_CHANGE:+.0%} at SSIM >= {TARGET_SSIM}: "
          f"{verdict}")


if __name__ == "__main__":
    main()
