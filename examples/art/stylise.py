"""Teach the art backbone a painter's style from a folder of paintings, then re-render a
folder of photos in it, through tlgen's Python API.

    python examples/art/stylise.py                                  # Van Gogh, skimage photos
    python examples/art/stylise.py --style my_paintings/ --content my_photos/ --steps 500
    python examples/art/stylise.py --backbone path/to/sd-pipeline --freeze lora
"""

from __future__ import annotations

import argparse

from tlgen import Run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="vangogh",
                        help="folder of paintings, or a built-in set: vangogh, ukiyoe")
    parser.add_argument("--content", default="skimage", help="folder of photos (or skimage)")
    parser.add_argument("--strengths", default="[0.3, 0.5, 0.7]", help="SDEdit strengths")
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps")
    parser.add_argument("--backbone", help="a diffusers pipeline (default: the shipped DDPM)")
    parser.add_argument("--freeze", help="freeze strategy (default: the plugin's)")
    args = parser.parse_args()

    overrides = [f"data.style='{args.style}'", f"data.content='{args.content}'",
                 f"sample.strengths={args.strengths}", f"train.max_steps={args.steps}"]
    if args.backbone:
        overrides.append(f"backbone.path='{args.backbone}'")
    if args.freeze:
        overrides.append(f"freeze.strategy='{args.freeze}'")
    run = Run.create("art", overrides=overrides)
    metrics = run.execute()["metrics"]

    print("strength  style change base -> fine-tuned   SSIM base -> fine-tuned")
    for s in run.config.sample.strengths:
        b, a = metrics["before"], metrics["after"]
        print(f"{s:>8g}  {b[f'style_change_s{s:g}']:>+10.0%} -> {a[f'style_change_s{s:g}']:<+10.0%}"
              f"         {b[f'ssim_s{s:g}']:.2f} -> {a[f'ssim_s{s:g}']:.2f}")
    print(f"stylised images: {run.dir / 'samples' / 'after'}")
    print(f"report: {run.dir / 'report.html'}; pipeline: {run.dir / 'model'}")


if __name__ == "__main__":
    main()
