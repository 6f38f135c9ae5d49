"""tlgen: transfer learning for generative models, as plugins on one shared trainer.

Light on import: ``tlgen --help`` and ``tlgen plugins`` never load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import TlgenError
from .hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["Backbone", "DataSplits", "LayerMap", "Run", "TlgenError", "__version__", "hookimpl"]

if TYPE_CHECKING:
    from .run import Run
    from .types import Backbone, DataSplits, LayerMap


def __getattr__(name: str):
    if name == "Run":
        from .run import Run

        return Run
    if name in ("Backbone", "DataSplits", "LayerMap"):
        from . import types

        return getattr(types, name)
    raise AttributeError(f"module 'tlgen' has no attribute {name!r}")
