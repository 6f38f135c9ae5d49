"""The molecules plugin's config sections; their defaults are the headline run."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from tlgen.config import BackboneSection, DataSection, EvaluateSection, SampleSection


class MoleculesBackbone(BackboneSection):
    """``path``: hub id or folder (None: the shipped prior); sizes apply when ``from_scratch``."""

    n_layer: int = Field(4, ge=1)
    n_embd: int = Field(256, ge=8)
    n_head: int = Field(8, ge=1)
    n_inner: int = Field(512, ge=8)
    n_positions: int = Field(128, ge=8)
    notation: Literal["smiles", "selfies"] = "smiles"

    @field_validator("n_head")
    @classmethod
    def _heads_divide(cls, n_head: int, info: ValidationInfo) -> int:
        if info.data.get("n_embd", 0) % n_head:
            raise ValueError(f"n_embd {info.data.get('n_embd')} is not a multiple of n_head")
        return n_head


class MoleculesData(DataSection):
    """``source``: ``chembl2321810`` (default series), ``egfr``, ``moses`` or a .smi/.csv/.sdf path.

    ``random_positions``: the share of training sequences placed at a random offset in the
    model's context, so that a prior pretrained on short molecules also trains the positions
    that a series' longer SMILES reach (0: every sequence starts at position 0)."""

    source: str = "chembl2321810"
    smiles_column: str | None = None
    property_column: str | None = None
    max_molecules: int | None = Field(None, ge=1)
    standardize: bool = True
    split: Literal["scaffold", "random"] = "scaffold"
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    min_molecules: int = Field(30, ge=3)
    augment: int = Field(0, ge=0)
    random_positions: float = Field(0.0, ge=0, le=1)
    validation_size: int = Field(2000, ge=1)

    @field_validator("fractions")
    @classmethod
    def _fractions_sum(cls, fractions: tuple[float, float, float]) -> tuple[float, float, float]:
        if abs(sum(fractions) - 1) > 1e-6 or min(fractions) <= 0:
            raise ValueError("write three positive numbers that sum to 1, e.g. [0.8, 0.1, 0.1]")
        return fractions


class MoleculesSample(SampleSection):
    """How SMILES are drawn; ``bf16`` autocast (None: where the CPU/GPU is fast at it)."""

    n: int = Field(1000, ge=1)
    batch_size: int = Field(500, ge=1)
    temperature: float = Field(1.0, gt=0)
    top_k: int = Field(0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    unique: bool = False
    max_tokens: int | None = Field(None, ge=2)
    bf16: bool | None = None


class MoleculesEvaluate(EvaluateSection):
    """Which of the costlier metrics run. The held-out losses are core's (``val_loss``,
    ``test_loss``), capped by ``train.heldout_batches``."""

    fcd: bool = True
    property_model: bool = True
    reference_max_molecules: int = Field(5000, ge=1)


SECTIONS = {
    "backbone": MoleculesBackbone,
    "data": MoleculesData,
    "sample": MoleculesSample,
    "evaluate": MoleculesEvaluate,
}
