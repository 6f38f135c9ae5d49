"""A stage's samples: stylised content images at each strength and unconditional samples,
kept in ``run.dir/samples/<stage>/`` with a manifest that the metrics and report read."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from . import images
from .config import ArtData, ArtSample


def content_images(data: ArtData, sample: ArtSample, multiple: int) -> list[tuple[str, Image.Image]]:
    """The first ``max_content`` content images, short side ``content_size``, each side a
    multiple of ``multiple``."""
    found = images.load(data.content, "data.content")[: sample.max_content]
    return [(name, images.resize_short_side(img, sample.content_size, multiple))
            for name, img in found]


def generate(stylizer, contents: list[tuple[str, Image.Image]], sample: ArtSample,
             n: int) -> list[Image.Image]:
    """Each content image at each strength, then ``n`` free samples; ``info`` says which."""
    out = []
    for i, (name, img) in enumerate(contents):
        for strength in sample.strengths:
            styled = stylizer.stylise(img, strength, seed=sample.seed + i)
            styled.info.update(kind="stylised", content=name, strength=strength)
            out.append(styled)
    for i, img in enumerate(stylizer.generate(n, seed=sample.seed) if n else []):
        img.info.update(kind="sample", index=i)
        out.append(img)
    return out


def save(folder: Path, samples: list[Image.Image], contents: list[tuple[str, Image.Image]]) -> None:
    """PNG files, the content images beside them, and ``manifest.json``:
    ``{"content": {name: {"file": ...}}, "samples": [{"file", "kind", ...}, ...]}``, the
    samples in order."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"content": {}, "samples": []}
    for name, img in contents:
        img.save(folder / f"content_{name}.png")
        manifest["content"][name] = {"file": f"content_{name}.png"}
    for img in samples:
        meta = {k: img.info[k] for k in ("kind", "content", "strength", "index") if k in img.info}
        stem = (f"{meta['content']}_s{meta['strength']:.2f}" if meta["kind"] == "stylised"
                else f"sample_{meta['index']:03d}")
        img.save(folder / f"{stem}.png")
        manifest["samples"].append({"file": f"{stem}.png", **meta})
    write_manifest(folder, manifest)


def read_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {"content": {}, "samples": []}


def write_manifest(folder: Path, manifest: dict) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
