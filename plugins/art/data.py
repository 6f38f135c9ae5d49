"""The art domain's data: image sets (built-in ones, folders of files, any image read as
8-bit RGB), the style set, the content images to stylise, and the training set of random
zoomed crops with flips and its batches."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from tlgen import TlgenError
from tlgen.files import check_name

from .config import ArtData, ArtSample

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

# scikit-image files in its wheel (not fetched by pooch); the content default is held out
# of the generic pretraining set so that the benchmark stylises photos the model never saw.
SKIMAGE_CONTENT = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg")
SKIMAGE_PHOTOS = (
    "brick.png", "camera.png", "cell.png", "clock_motion.png", "coins.png", "color.png",
    "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png", "moon.png",
    "motorcycle_left.png", "motorcycle_right.png", "retina.jpg",
)
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")
# Paintings shipped in data/: the Van Gogh style set, a ninth Van Gogh held out of it, and
# other painters' paintings (the last two measure the metrics, see data/*/PROVENANCE.md).
SHIPPED = ("vangogh", "vangogh_heldout", "paintings")
# A second style: the nine Japanese woodblock prints among the paintings (Hokusai x7,
# Hiroshige x2). All nine are in the shipped backbone's painterly pretraining set (its
# model card), so unlike Van Gogh this style is not new to the backbone.
UKIYOE = ("EjiriSuruga", "GreatWave", "HiroshigeHorsePrawns", "HiroshigeInokashiraSnow",
          "HokusaiBridge", "HokusaiOiranKamuro", "HokusaiPoppies", "HokusaiWomanHoldingFan",
          "KazusaSeaRoute")
BUILTIN = (*SHIPPED, "ukiyoe", "photos", "skimage")
# The smallest short side of an image worth using: a smaller style image carries no texture
# (a 1x1 one is a flat colour), a smaller content image no structure to keep.
MIN_SIDE = 32


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TlgenError(f"the built-in image set needs the package {package!r}: pip install it")
    return Path(spec.submodule_search_locations[0])


def builtin(name: str) -> list[Path] | None:
    """The files of a built-in set (see ``BUILTIN``), or None for another name."""
    if name in SHIPPED:
        return sorted((Path(__file__).parent / "data" / name).glob("*.webp"))
    if name == "ukiyoe":
        return [Path(__file__).parent / "data" / "paintings" / f"{stem}.webp" for stem in UKIYOE]
    if name == "skimage":
        return [_package_dir("skimage") / "data" / f for f in SKIMAGE_CONTENT]
    if name == "photos":
        skimage = _package_dir("skimage") / "data"
        sklearn = _package_dir("sklearn") / "datasets" / "images"
        return [skimage / f for f in SKIMAGE_PHOTOS] + [sklearn / f for f in SKLEARN_PHOTOS]
    return None


def image_files(spec: str, key: str) -> list[Path]:
    """The image files that config key ``key`` names: a built-in set, a folder or one file."""
    found = builtin(spec)
    if found is not None:
        return found
    path = check_name(spec, f"config key '{key}':")
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise TlgenError(f"config key '{key}': {spec} is neither a folder, an image file nor a "
                         f"built-in set ({', '.join(BUILTIN)})")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    if not files:
        raise TlgenError(f"config key '{key}': folder {path} has no images "
                         f"({', '.join(SUFFIXES)})")
    return files


def read_rgb(path: Path) -> Image.Image:
    """Any readable image as 8-bit RGB: grayscale, palette, 16-bit and float are rescaled,
    alpha is composited on white, EXIF rotation applied."""
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise TlgenError(f"{path}: not a readable image ({exc}); fix or remove the file") from None
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        img = _to_8bit(np.asarray(img, dtype=np.float64))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB")


def _to_8bit(values: np.ndarray) -> Image.Image:
    """A gray image of wider values as 8-bit: above 255 read as 16-bit, at most 1 as 0..1."""
    top = values.max(initial=0.0)
    scale = 255.0 if top <= 1.0 else 255.0 / 65535.0 if top > 255.0 else 1.0
    return Image.fromarray(np.clip(values * scale + 0.5, 0, 255).astype(np.uint8), "L")


def load(spec: str, key: str, min_side: int = 1) -> list[tuple[Path, Image.Image]]:
    """(file, RGB image) for every image that ``spec`` names. An image whose short side is
    below ``min_side`` pixels is refused with a line naming the file and its size."""
    found = []
    for path in image_files(spec, key):
        img = read_rgb(path)
        if min(img.size) < min_side:
            raise TlgenError(f"config key '{key}': {path} is {img.width}x{img.height} px, too "
                             f"small to use: images need a short side of at least {min_side} px; "
                             "remove it or give a larger version")
        found.append((path, img))
    return found


def resize_short_side(img: Image.Image, short: int, multiple: int = 1) -> Image.Image:
    """Resize so the short side is ``short``, then centre-crop each side to a multiple of
    ``multiple`` (what the UNet's downsampling needs)."""
    scale = short / min(img.size)
    w, h = (max(multiple, round(s * scale)) for s in img.size)
    img = img.resize((w, h), Image.Resampling.BICUBIC)
    cw, ch = w - w % multiple, h - h % multiple
    left, top = (w - cw) // 2, (h - ch) // 2
    return img.crop((left, top, left + cw, top + ch))


def style_images(data: ArtData, log: Callable[[str], None]) -> list[Image.Image]:
    """The style set. An image too small to carry texture (short side under 32 px, or the
    crop if that is smaller) is refused; one smaller than the crop is upscaled, with a
    warning naming it."""
    found = load(data.style, "data.style", min(MIN_SIDE, data.crop))
    for path, img in found:
        if min(img.size) < data.crop:
            log(f"warning: style image {path} is {img.width}x{img.height} px, smaller than "
                f"the {data.crop} px crop: it is upscaled, so its crops are blurred")
    return [img for _, img in found]


def content_images(data: ArtData, sample: ArtSample, multiple: int) -> dict[str, Image.Image]:
    """The first ``max_content`` content images by file name, short side ``content_size``,
    each side a multiple of ``multiple``."""
    found = load(data.content, "data.content", MIN_SIDE)[: sample.max_content]
    return {path.stem: resize_short_side(img, sample.content_size, multiple)
            for path, img in found}


def caption_ids(tokenizer: PreTrainedTokenizerBase | None, caption: str) -> torch.Tensor | None:
    """The caption's token ids for a text-conditioned pipeline (None: unconditional)."""
    if tokenizer is None:
        return None
    return tokenizer(caption, padding="max_length", max_length=tokenizer.model_max_length,
                     truncation=True, return_tensors="pt").input_ids


def to_tensor(img: Image.Image) -> torch.Tensor:
    """An RGB image as a (3, H, W) float tensor in [-1, 1]."""
    array = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def to_image(tensor: torch.Tensor) -> Image.Image:
    """A (3, H, W) tensor in [-1, 1] as an RGB image."""
    array = ((tensor.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte()
    return Image.fromarray(array.permute(1, 2, 0).numpy(), "RGB")


class RandomCrops(torch.utils.data.Dataset):
    """``per_image`` crops of each image per epoch: the short side resized to crop x zoom
    (zoom drawn from a range), a random square crop, a random horizontal flip.

    Item i's crop is drawn from a generator seeded with (``seed``, epoch, i): the same crop
    in every run with that seed, so a resumed run sees exactly the crops the uninterrupted
    one saw (the global RNG would not do: data loaders fetch a batch ahead of the step that
    a checkpoint records). The trainer calls ``set_epoch``; a validation set keeps epoch 0.
    """

    def __init__(self, images: list[Image.Image], crop: int, zoom: tuple[float, float],
                 per_image: int, seed: int = 0) -> None:
        self.images = images
        self.crop = crop
        self.zoom = zoom
        self.per_image = per_image
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images) * self.per_image

    def __getitem__(self, index: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed((self.seed * 7919 + self.epoch) * 1_000_003 + index)
        u = torch.rand(4, generator=gen).tolist()
        img = self.images[index % len(self.images)]
        short = self.crop * (self.zoom[0] + u[0] * (self.zoom[1] - self.zoom[0]))
        side = min(img.size) * self.crop / max(short, self.crop)  # the crop in source pixels
        left, top = u[1] * (img.width - side), u[2] * (img.height - side)
        patch = img.resize((self.crop, self.crop), Image.Resampling.BICUBIC,
                           box=(left, top, left + side, top + side), reducing_gap=2.0)
        if u[3] < 0.5:
            patch = patch.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return to_tensor(patch)


class GuidedPairs(torch.utils.data.Dataset):
    """Aligned random crops (one window, one flip for both) of photos and of the guided
    images the backbone made from them, ``per_pair`` a pair and epoch, for the guidance
    distillation term (loss.StyleTransferLoss). The pairs are made by ``make`` when first
    needed (the first ``set_epoch`` or item), so a run that does not train (sampling,
    serving, export) never pays for them; ``make`` works on its own copy of the weights,
    so they are the backbone's whenever they are made. Crops are seeded like
    ``RandomCrops``'s: the same in a resumed run."""

    def __init__(self, make: Callable[[], list[tuple[torch.Tensor, torch.Tensor]]],
                 pairs: int, crop: int, per_pair: int, seed: int = 0) -> None:
        self.make = make
        self.pairs: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self.count = pairs * per_pair
        self.crop = crop
        self.seed = seed
        self.epoch = 0

    def ready(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if self.pairs is None:
            self.pairs = self.make()
        return self.pairs

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.ready()

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = self.ready()
        gen = torch.Generator().manual_seed((self.seed * 7919 + self.epoch) * 1_000_003 + index)
        u = torch.rand(3, generator=gen).tolist()
        photo, guided = pairs[index % len(pairs)]
        top = int(u[0] * (photo.shape[1] - self.crop + 1))
        left = int(u[1] * (photo.shape[2] - self.crop + 1))
        window = (slice(None), slice(top, top + self.crop), slice(left, left + self.crop))
        photo, guided = photo[window], guided[window]
        if u[2] < 0.5:
            photo, guided = photo.flip(-1), guided.flip(-1)
        return photo, guided


class WithPhotos(torch.utils.data.Dataset):
    """The style crops, each paired with a photo crop (item i with photo crop i modulo
    their number) for the style transfer term of the loss (loss.StyleTransferLoss); with
    ``GuidedPairs`` also the guided image's crop."""

    def __init__(self, style: RandomCrops, photos: RandomCrops | GuidedPairs) -> None:
        self.style = style
        self.photos = photos

    def set_epoch(self, epoch: int) -> None:
        self.style.set_epoch(epoch)
        self.photos.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.style)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        photo = self.photos[index % len(self.photos)]
        return (self.style[index], *photo) if isinstance(photo, tuple) else (self.style[index],
                                                                             photo)


class Collate:
    """Stacks crops into ``pixel_values`` (and paired photo crops into ``photo_values``,
    their guided images' into ``guided_values``); adds the caption's ``input_ids`` when
    there is one."""

    def __init__(self, input_ids: torch.Tensor | None = None) -> None:
        self.input_ids = input_ids

    def __call__(self, items: list) -> dict[str, torch.Tensor]:
        if isinstance(items[0], tuple):
            keys = ("pixel_values", "photo_values", "guided_values")[: len(items[0])]
            batch = {key: torch.stack([i[k] for i in items]) for k, key in enumerate(keys)}
        else:
            batch = {"pixel_values": torch.stack(items)}
        if self.input_ids is not None:
            batch["input_ids"] = self.input_ids.expand(len(items), -1).clone()
        return batch
