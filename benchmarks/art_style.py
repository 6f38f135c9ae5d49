"""Art benchmark: style transfer of content photos, base vs fine-tuned, at each strength.

One run of the art plugin (default: the shipped pixel DDPM fine-tuned on the Van Gogh
set), then, per strength, the style distance of the outputs to the style set relative to
each content image (style change; target -50%) and their content SSIM (target >= 0.5),
per image and on average. Beside it, the zero-shot baseline to beat: Magenta's pretrained
arbitrary stylisation (plugins/art/baseline.py) on the same content images and style set,
measured the same way, at each blend of the style vector. For scale it also prints what
the metric calls "in style": each style image's distance to the other style images. The
headline is printed last: the best fine-tuned style change among strengths whose SSIM is
at least 0.5, and the baseline's best change at an SSIM at least as high.

    python benchmarks/art_style.py                      # a new default run
    python benchmarks/art_style.py --set train.max_steps=600
    python benchmarks/art_style.py --run runs/<time>-art  # measure an existing run
    python benchmarks/art_style.py --baseline-only      # the Magenta baseline alone
    python benchmarks/art_style.py --run runs/<time>-art --grid magenta.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from PIL import Image

from tlgen.plugins.art.evaluation import read_scores

TARGET_CHANGE, TARGET_SSIM = -0.5, 0.5
BLENDS = (0.25, 0.5, 0.75, 1.0)


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


def run_contents(run_dir: Path) -> dict[str, Image.Image]:
    """The content images exactly as the run stylised and measured them (its saved PNGs)."""
    folder = run_dir / "samples" / "after"
    return {row["content"]: Image.open(folder / row["file"]).convert("RGB")
            for row in read_scores(folder / "scores.csv") if row["kind"] == "content"}


def magenta(contents: dict[str, Image.Image], style_images: list[Image.Image], size: int,
            blends: list[float]) -> tuple[list[dict], list[Image.Image], dict[str, float]]:
    """The Magenta baseline on each content image at each blend, measured as the plugin's
    evaluation measures a stage: one row per (content, blend) and a 'mean' row per blend,
    the stylised images, and each content image's own style distance."""
    from tlgen.plugins.art.baseline import MagentaBaseline
    from tlgen.plugins.art.evaluation import measure, summarise
    from tlgen.plugins.art.style import StyleDistance

    start = time.perf_counter()
    model = MagentaBaseline(style_images)
    made = []
    for name, img in contents.items():
        for blend in blends:
            out = model.stylise(img, blend)
            out.info.update(kind="stylised", content=name, strength=blend)
            made.append(out)
    seconds = time.perf_counter() - start
    style = StyleDistance(style_images, size)
    base = {name: style(img) for name, img in contents.items()}
    measure(made, contents, base, style)
    means = summarise([img.info for img in made], base)
    rows = []
    for blend in blends:
        rows += [{"content": img.info["content"], "blend": blend,
                  **{k: img.info[k] for k in ("style_dist", "style_change", "ssim")}}
                 for img in made if img.info["strength"] == blend]
        rows.append({"content": "mean", "blend": blend,
                     **{k: means[f"{k}_s{blend:g}"] for k in ("style_dist", "style_change",
                                                               "ssim")}})
    print(f"Magenta baseline: {len(made)} images in {seconds:.1f} s")
    return rows, made, base


def show_magenta(rows: list[dict]) -> None:
    print("  ".join(f"{c:>16}" for c in ("content", "blend", "magenta_style_dist",
                                          "magenta_change", "magenta_ssim")))
    for row in rows:
        print(f"{row['content']:>16}  {row['blend']:>16g}  {row['style_dist']:>16.3f}  "
              f"{row['style_change']:>+16.1%}  {row['ssim']:>16.3f}")


def best_magenta(rows: list[dict], min_ssim: float) -> dict | None:
    """The blend whose mean style change is lowest among those with SSIM >= ``min_ssim``."""
    kept = [r for r in rows if r["content"] == "mean" and r["ssim"] >= min_ssim]
    return min(kept, key=lambda r: r["style_change"]) if kept else None


def style_reference(style_images: list[Image.Image], names: list[str],
                    size: int) -> list[tuple[str, float]]:
    """What the metric calls "in style": each style image's distance to the others (leave one
    out), at the size the run measured its outputs."""
    from tlgen.plugins.art.style import held_out_distances

    return list(zip(names, held_out_distances(style_images, size), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="measure this finished run instead of a new one")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="config override for the new run")
    parser.add_argument("--output-dir", default="runs")
    parser.add_argument("--baseline-only", action="store_true",
                        help="no fine-tuned model: the Magenta baseline alone (on --run's "
                             "content images if given, else on the default config's)")
    parser.add_argument("--blends", type=float, nargs="+", default=list(BLENDS),
                        help="Magenta style-vector blends (1: the style set's vector)")
    parser.add_argument("--grid", type=Path, help="save content | Magenta at each blend here")
    args = parser.parse_args()
    from tlgen.plugins.art.config import ArtData, ArtSample
    from tlgen.plugins.art.images import load
    from tlgen.plugins.art.samples import content_images

    if args.run is None and not args.baseline_only:
        from tlgen import Run

        start = time.perf_counter()
        run = Run.create("art", overrides=args.overrides, output_dir=args.output_dir)
        run.execute()
        args.run = run.dir
        print(f"run: {run.dir} in {time.perf_counter() - start:.0f} s")
    if args.run is None:
        data, sample = ArtData(), ArtSample()
        contents = content_images(data, sample, 1)
    else:
        from tlgen import Run

        config = Run.open(args.run).config
        data, sample = config.data, config.sample
        contents = run_contents(args.run)
    paths, style_images = zip(*load(data.style, "data.style"), strict=True)
    style_images = list(style_images)

    rows = []
    if not args.baseline_only:
        rows = table(args.run)
        show(rows)
    magenta_rows, made, base = magenta(contents, style_images, sample.content_size, args.blends)
    show_magenta(magenta_rows)
    reference = style_reference(style_images, [p.stem for p in paths], sample.content_size)
    print("for scale, style distance of each style image to the other style images (leave one "
          "out): " + ", ".join(f"{name} {d:.2f}" for name, d in reference))
    print("and of the content images: " + ", ".join(f"{n} {d:.2f}" for n, d in base.items()))
    if args.grid:
        from tlgen.plugins.art.figures import strength_grid

        print(f"Magenta grid: {strength_grid({'Magenta': made}, contents, base, args.grid)}")
    if args.run is not None:
        print(f"figure: {args.run / 'figures' / 'style_transfer.png'}")
    headline(rows, magenta_rows)


def headline(rows: list[dict], magenta_rows: list[dict]) -> None:
    """The best fine-tuned change at SSIM >= 0.5 against the target, then the baseline's best
    at an SSIM at least as high (last line)."""
    means = [r for r in rows if r["content"] == "mean" and r["tuned_ssim"] is not None]
    kept = [r for r in means if r["tuned_ssim"] >= TARGET_SSIM]
    best = min(kept, key=lambda r: r["tuned_change"]) if kept else None
    if rows and best is None:
        print(f"art_style: no strength keeps SSIM >= {TARGET_SSIM} (target not met)")
    elif best is not None:
        verdict = "met" if best["tuned_change"] <= TARGET_CHANGE else "not met"
        base = "-" if best["base_change"] is None else f"{best['base_change']:+.1%}"
        print(f"art_style: style distance {best['tuned_change']:+.1%} vs content (base "
              f"{base}) at strength {best['strength']:g}, SSIM "
              f"{best['tuned_ssim']:.2f}; target {TARGET_CHANGE:+.0%} at SSIM >= "
              f"{TARGET_SSIM}: {verdict}")
    min_ssim = TARGET_SSIM if best is None else max(TARGET_SSIM, best["tuned_ssim"])
    zero_shot = best_magenta(magenta_rows, min_ssim)
    if zero_shot is None:
        print(f"art_style: Magenta baseline: no blend keeps SSIM >= {min_ssim:.2f}")
        return
    line = (f"art_style: Magenta zero-shot baseline {zero_shot['style_change']:+.1%} at blend "
            f"{zero_shot['blend']:g}, SSIM {zero_shot['ssim']:.2f} (best at SSIM >= "
            f"{min_ssim:.2f})")
    if best is not None:
        beaten = best["tuned_change"] <= zero_shot["style_change"]
        line += f"; fine-tuned {best['tuned_change']:+.1%}: " + (
            "matches or beats it" if beaten else "does not match it")
    print(line)


if __name__ == "__main__":
    main()
