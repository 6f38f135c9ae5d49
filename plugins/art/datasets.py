"""Training data: random zoomed crops with flips from a few images, and their batches."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


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


class Collate:
    """Stacks crops into ``pixel_values``; adds the caption's ``input_ids`` when there is one."""

    def __init__(self, input_ids: torch.Tensor | None = None) -> None:
        self.input_ids = input_ids

    def __call__(self, items: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        batch = {"pixel_values": torch.stack(items)}
        if self.input_ids is not None:
            batch["input_ids"] = self.input_ids.expand(len(items), -1).clone()
        return batch
