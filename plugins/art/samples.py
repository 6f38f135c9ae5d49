"""A stage's samples: stylised content images at each strength and free samples, each an
RGB image whose ``info`` says what it is (``kind``, ``content``, ``strength`` or ``index``,
``file``); saved as PNGs in the stage's samples folder for the user."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from . import images
from .config import ArtData, ArtSample


def content_images(data: ArtData, sample: ArtSample, multiple: int) -> dict[str, Image.Image]:
    """The first ``max_content`` content images by file name, short side ``content_size``,
    each side a multiple of ``multiple``."""
    found = images.load(data.content, "data.content", images.MIN_SIDE)[: sample.max_content]
    return {path.stem: images.resize_short_side(img, sample.content_size, multiple)
            for path, img in found}


def generate(stylizer, contents: dict[str, Image.Image], sample: ArtSample,
             n: int) -> list[Image.Image]:
    """Each content image at each strength, then ``n`` free samples; ``info`` says which."""
    out = []
    for i, (name, img) in enumerate(contents.items()):
        for strength in sample.strengths:
            styled = stylizer.stylise(img, strength, seed=sample.seed + i)
            styled.info.update(kind="stylised", content=name, strength=strength,
                               file=f"{name}_s{strength:.2f}.png")
            out.append(styled)
    for i, img in enumerate(stylizer.generate(n, seed=sample.seed) if n else []):
        img.info.update(kind="sample", index=i, file=f"sample_{i:03d}.png")
        out.append(img)
    return out


def save(folder: Path, samples: list[Image.Image], contents: dict[str, Image.Image]) -> None:
    """The samples as PNGs under their ``info["file"]`` names, and the content images they
    were made from as ``content_<name>.png``."""
    for name, img in contents.items():
        img.save(folder / f"content_{name}.png")
    for img in samples:
        img.save(folder / img.info["file"])
