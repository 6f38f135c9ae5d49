"""Import deepchem without its warnings about optional backends (TensorFlow, JAX, Lightning)."""

from __future__ import annotations

import logging
from types import ModuleType


def deepchem() -> ModuleType:
    """The deepchem module, imported with its logger held to errors."""
    logger = logging.getLogger("deepchem")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        import deepchem as dc
    finally:
        logger.setLevel(level)
    return dc
