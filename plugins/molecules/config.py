"""The molecules plugin's config sections; their defaults are the headline run."""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from tlgen.config import (
    BackboneSection,
    DataSection,
    EvaluateSection,
    SampleSection,
    ScoringSection,
    Section,
)


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
    that a series' longer SMILES reach (0: every sequence starts at position 0).

    ``randomize``: the share of training rows that, each epoch, are a fresh restricted
    random SMILES of the molecule instead of the canonical one (REINVENT's randomised
    SMILES; validation and test stay canonical)."""

    source: str = "chembl2321810"
    smiles_column: str | None = None
    property_column: str | None = None
    max_molecules: int | None = Field(None, ge=1)
    standardize: bool = True
    split: Literal["scaffold", "random"] = "scaffold"
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    min_molecules: int = Field(30, ge=3)
    randomize: float = Field(0.0, ge=0, le=1)
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


# Scoring components: type -> the parameters it takes (besides weight, transform, filter).
PARAMETERS: dict[str, tuple[str, ...]] = {
    "qed": (), "sa": (), "logp": (), "mw": (), "tpsa": (), "hbd": (), "hba": (),
    "rotatable_bonds": (), "pains": (), "brenk": (), "predicted_activity": (),
    "similarity": ("smiles", "radius", "features", "counts", "bits"),
    "series_similarity": ("radius", "features", "counts", "bits"),  # to the training series
    "substructure": ("smarts",), "alerts": ("smarts",), "function": ("function",),
}
REQUIRED = {  # type -> (parameter, what to write)
    "similarity": ("smiles", 'its reference molecules: smiles = ["CCO", ...]'),
    "substructure": ("smarts", 'SMARTS patterns: smarts = ["c1ccccc1", ...]'),
    "alerts": ("smarts", 'SMARTS patterns: smarts = ["[N+](=O)[O-]", ...]'),
    "function": ("function", 'function = "module:function" (or "file.py:function")'),
}
UNIT = {"qed", "pains", "brenk", "similarity", "series_similarity", "substructure",
        "alerts"}  # values in [0, 1]
FILTERS = {"pains", "brenk", "alerts"}  # multiply the score by default (REINVENT 4's filters)
SPECIFIC = {name for names in PARAMETERS.values() for name in names}


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("scoring", message)


class Transform(Section):
    """REINVENT 4's score transforms: ``sigmoid`` / ``reverse_sigmoid`` (``low``, ``high``,
    ``k``), ``double_sigmoid`` (``low``, ``high``, ``coef_div``, ``coef_si``, ``coef_se``),
    ``step`` (1 in [low, high]), ``left_step`` (1 at or below ``low``), ``right_step`` (1 at
    or above ``high``)."""

    type: Literal["sigmoid", "reverse_sigmoid", "double_sigmoid", "step", "left_step",
                  "right_step"]
    low: float | None = None
    high: float | None = None
    k: float = Field(0.5, gt=0)
    coef_div: float = Field(100.0, ge=0)
    coef_si: float = Field(150.0, gt=0)
    coef_se: float = Field(150.0, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> Transform:
        needs = {"left_step": ("low",), "right_step": ("high",)}.get(self.type, ("low", "high"))
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise _fail(f"transform {self.type} needs {' and '.join(missing)}")
        if len(needs) == 2 and self.low > self.high:
            raise _fail(f"transform {self.type}: low {self.low:g} is above high {self.high:g}")
        return self


class Component(Section):
    """One scoring component: what it measures (``type``: the table's name unless given),
    its ``weight`` in the mean, a ``transform`` onto [0, 1], and whether it is a ``filter``
    (multiplies the score instead of joining the mean)."""

    type: str
    weight: float = Field(1.0, ge=0)
    transform: Transform | None = None
    filter: bool | None = None
    smiles: list[str] | None = None  # similarity: reference molecules (the highest counts)
    radius: int = Field(2, ge=0)
    features: bool = False  # FCFP (pharmacophoric atom features) instead of ECFP
    counts: bool = False  # count fingerprints (GuacaMol's) instead of bit vectors
    bits: int = Field(2048, ge=64)
    smarts: list[str] | None = None  # substructure: any match scores 1; alerts: any match 0
    function: str | None = None  # "module:function" or "path/to/file.py:function"

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, value: Any) -> Any:
        unknown = sorted(set(value) - set(cls.model_fields)) if isinstance(value, dict) else []
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(cls.model_fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise _fail(f"unknown key '{unknown[0]}'{hint}")
        return value

    @model_validator(mode="after")
    def _parameters(self) -> Component:
        if self.type not in PARAMETERS:
            close = difflib.get_close_matches(self.type, list(PARAMETERS), n=1, cutoff=0.5)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise _fail(f"unknown scoring component '{self.type}'{hint}; known: "
                        f"{', '.join(PARAMETERS)}")
        fields = type(self).model_fields  # a saved config holds all: only a change is wrong
        extra = {name for name in SPECIFIC - set(PARAMETERS[self.type])
                 if getattr(self, name) != fields[name].default}
        if extra:
            raise _fail(f"component type '{self.type}' takes no {', '.join(sorted(extra))}")
        needed, example = REQUIRED.get(self.type, (None, ""))
        if needed and not getattr(self, needed):
            raise _fail(f"component type '{self.type}' needs {example}")
        if self.type not in UNIT | {"function"} and self.transform is None:
            raise _fail(f"component type '{self.type}' needs a transform onto [0, 1], e.g. "
                        "transform = {type = \"sigmoid\", low = ..., high = ..., k = 0.5}")
        _check_chemistry(self)
        return self

    @property
    def is_filter(self) -> bool:
        return self.type in FILTERS if self.filter is None else self.filter


def _check_chemistry(component: Component) -> None:
    """Reference SMILES parse and SMARTS patterns compile (RDKit, imported only here)."""
    if not (component.smiles or component.smarts):
        return
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    for text in component.smiles or []:
        if Chem.MolFromSmiles(text) is None:
            raise _fail(f"reference SMILES {text!r} is not a valid molecule")
    for text in component.smarts or []:
        if Chem.MolFromSmarts(text) is None:
            raise _fail(f"SMARTS {text!r} is not a valid pattern")


class MoleculesScoring(ScoringSection):
    """What the reward stage (``train.mode = "reward"``) maximises: ``[scoring.components.NAME]``
    tables combined by a weighted ``arithmetic`` or ``geometric`` mean (REINVENT 4), times the
    filters; then REINVENT's diversity filter: a repeated molecule scores 0, and once
    ``bucket_size`` molecules scoring at least ``min_score`` share a Murcko scaffold, more of
    that scaffold score 0."""

    components: dict[str, Component] = Field(default_factory=dict)
    aggregation: Literal["arithmetic", "geometric"] = "geometric"
    diversity_filter: Literal["identical_murcko", "none"] = "identical_murcko"
    bucket_size: int = Field(25, ge=1)
    min_score: float = Field(0.4, ge=0, le=1)

    @field_validator("components", mode="before")
    @classmethod
    def _type_from_name(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: {"type": name, **table} if isinstance(table, dict) else table
                    for name, table in value.items()}
        return value

    @model_validator(mode="after")
    def _something_to_maximise(self) -> MoleculesScoring:
        mean = [c for c in self.components.values() if not c.is_filter]
        if self.components and not any(c.weight > 0 for c in mean):
            raise _fail("every scoring component has weight 0 (or is a filter): nothing to "
                        "maximise; give one a weight above 0")
        return self


SECTIONS = {
    "backbone": MoleculesBackbone,
    "data": MoleculesData,
    "sample": MoleculesSample,
    "evaluate": MoleculesEvaluate,
    "scoring": MoleculesScoring,
}
