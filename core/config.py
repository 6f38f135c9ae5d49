"""Run configuration: a TOML file, ``--set a.b=c`` overrides and CLI flags, validated.

Core owns ``[freeze]``, ``[train]`` and ``[reward]``; the domain plugin owns ``[backbone]``,
``[data]``, ``[sample]``, ``[evaluate]`` and ``[scoring]`` through its ``config_schema`` hook.
Every error names the key and, for a typo, the closest valid key.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal, Sequence

from pydantic import (BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator,
                      model_validator)

from .errors import TlgenError
from .files import check_name, short


class Section(BaseModel):
    """Base of every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)


class BackboneSection(Section):
    """Where the pretrained model comes from: a hub id or a folder (None: the
    plugin's shipped default)."""

    path: str | None = None
    from_scratch: bool = False


SEED = Field(0, ge=0, le=2**32 - 1)  # what numpy and torch accept as a seed


class SampleSection(Section):
    n: int = Field(100, ge=1)
    seed: int = SEED


class EvaluateSection(Section):
    pass


class DataSection(Section):
    pass


class FreezeConfig(Section):
    strategy: str = "full"
    lora_r: int = Field(8, ge=1)
    lora_alpha: int = Field(16, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_targets: list[str] | None = None
    modules_to_save: list[str] | None = None

    @field_validator("strategy")
    @classmethod
    def _known(cls, value: str) -> str:
        try:
            _parse_strategy(value)
        except TlgenError as exc:
            raise ValueError(str(exc).split(": ", 1)[1]) from None
        return value

    def parsed(self) -> tuple[str, int]:
        """The strategy name and its N (``freeze-first:N``)."""
        return _parse_strategy(self.strategy)


def _parse_strategy(strategy: str) -> tuple[str, int]:
    name, _, arg = strategy.partition(":")
    if name not in ("full", "freeze-first", "freeze-embeddings", "lora"):
        raise TlgenError(f"config key 'freeze.strategy': unknown strategy {strategy!r}; "
                         "use full, freeze-first:N, freeze-embeddings or lora")
    if name == "freeze-first":
        if not arg.isdigit():
            raise TlgenError("config key 'freeze.strategy': write freeze-first:N, e.g. freeze-first:2")
        return name, int(arg)
    return name, 0


class TrainConfig(Section):
    mode: Literal["likelihood", "reward"] = "likelihood"  # reward: the [reward] stage
    max_steps: int = Field(200, ge=1)
    batch_size: int = Field(32, ge=1)
    grad_accum: int = Field(1, ge=1)
    lr: float = Field(3e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_steps: int = Field(20, ge=0)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    clip: float = Field(1.0, ge=0)
    eval_every: int = Field(50, ge=1)
    eval_batches: int | None = Field(None, ge=1)
    heldout_batches: int | None = Field(None, ge=1)  # cap on the before/after held-out losses
    early_stopping_patience: int = Field(0, ge=0)  # > 0: stop, and keep the best weights
    save_every: int = Field(100, ge=1)
    keep_last: int = Field(2, ge=1)
    log_every: int = Field(10, ge=1)
    precision: Literal["auto", "no", "bf16", "fp16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    trackers: list[str] = Field(default_factory=list)
    bucket_by_length: bool = True
    num_workers: int = Field(0, ge=0)
    threads: int | None = Field(None, ge=1)
    # for bigger models; each off by default (benchmarks/trainer_options.py measures them)
    gradient_checkpointing: bool = False
    compile: bool = False
    tf32: bool = True  # TensorFloat-32 matmuls on an Ampere+ GPU; no effect on a CPU
    pin_memory: bool = False
    pack: int = Field(0, ge=0)  # > 0: padding-free rows of up to N tokens (core/packing.py)
    fused_activations: bool = True  # torch's fused tanh-GELU for GPT-2's (core/kernels.py)


class RewardConfig(Section):
    """The reward-guided stage (``train.mode = "reward"``): REINVENT's staged learning on a
    causal LM. The agent starts as the backbone, the prior is a frozen copy of it; each step
    samples ``batch_size`` sequences, scores them through the plugin's ``reward`` hook and
    minimises ``(log P_prior + sigma * S - log P_agent)^2`` (with replay of the best)."""

    sigma: float = Field(128.0, gt=0)
    lr: float = Field(1e-4, gt=0)
    batch_size: int = Field(64, ge=1)
    # stopping rules (the one that stopped the stage is logged and in the summary):
    budget: int | None = Field(None, ge=1)  # oracle calls (scored new samples) to spend
    max_steps: int | None = Field(300, ge=1)  # a step cap; none by default once a budget is set
    stall_calls: int | None = Field(None, ge=1)  # stop: the top-10 has not improved for N calls
    stall_new: int = Field(0, ge=0)  # stop: fewer new molecules than this a step ...
    stall_steps: int = Field(20, ge=1)  # ... for this many steps in a row
    min_steps: int = Field(0, ge=0)
    max_score: float | None = Field(None, gt=0, le=1)  # stop once a batch's mean score reaches it
    # when new samples per step fall (the agent collapses onto a few sequences): "restart"
    # puts the agent back to the prior (keeping the replay memory of the best), "temperature"
    # raises the sampling temperature (up to temperature_max) while it lasts. Measured on
    # PMO's median1 (README): once collapsed, restart spent 9x the calls per step of "none",
    # temperature 5x, the top-10 the same over those steps
    explore: Literal["none", "temperature", "restart"] = "restart"
    collapse_below: float = Field(0.25, ge=0, le=1)  # collapse: new calls < this x batch_size
    collapse_steps: int = Field(5, ge=1)  # for this many steps in a row
    temperature_max: float = Field(2.0, gt=0)
    # REINVENT's regulariser: + likelihood_penalty * mean(-1 / log P_agent) over the trained
    # sequences, which grows as an agent makes a sequence near certain (0: off)
    likelihood_penalty: float = Field(5e3, ge=0)
    replay_size: int = Field(100, ge=0)  # best unique sequences kept
    replay_batch: int = Field(10, ge=0)  # of them replayed per step
    temperature: float = Field(1.0, gt=0)
    max_tokens: int = Field(128, ge=2)
    save_every: int = Field(25, ge=1)
    keep_last: int = Field(2, ge=1)
    log_every: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _stops(self) -> RewardConfig:
        if self.budget is not None and "max_steps" not in self.model_fields_set:
            self.max_steps = None  # a budget given: spend it, unless a step cap is asked for
        if self.budget is None and self.max_steps is None and self.stall_calls is None:
            raise ValueError("the reward stage needs a stopping rule: set reward.budget "
                             "(oracle calls), reward.max_steps or reward.stall_calls")
        return self


class RunConfig(Section):
    plugin: str
    seed: int = SEED
    output_dir: str = "runs"
    name: str | None = None
    before: bool = True
    freeze: FreezeConfig = Field(default_factory=FreezeConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)


class ScoringSection(Section):
    pass


DOMAIN_SECTIONS = {
    "backbone": BackboneSection,
    "data": DataSection,
    "sample": SampleSection,
    "evaluate": EvaluateSection,
    "scoring": ScoringSection,  # what the reward hook scores (components, weights)
}


def assemble(pm, plugin: str | None = None, source: str | Path | None = None,
             overrides: Sequence[str] = (), fixed: dict[str, Any] | None = None,
             raw: dict[str, Any] | None = None, where: str | None = None
             ) -> tuple[RunConfig, str]:
    """The one way a run's config is built (new run, reopened run, resume, a sweep's trial):
    the TOML at ``source`` (a user's config file or a run's saved config.toml) or a ``raw``
    table, ``plugin`` and the CLI's ``fixed`` keys (``"train.device"``...), ``--set``
    overrides, over the domain's defaults, validated against core's sections and the
    domain's. Returns it and the domain's name."""
    import copy

    raw = copy.deepcopy(raw) if raw is not None else (read_toml(source) if source else {})
    if plugin:
        raw["plugin"] = plugin
    for key, value in (fixed or {}).items():
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    for assignment in overrides:
        apply_override(raw, assignment)
    name = raw.get("plugin")
    where = where or (str(source) if source else "config")
    if not name:
        raise TlgenError("no plugin given: pass --plugin NAME or set plugin = \"NAME\" in the "
                         "config")
    domain = pm.resolve(name)
    hooks = pm.domain_hooks(domain)
    raw = merge(hooks.default_train_config() or {}, raw)
    return validate(raw, schema_for(hooks.config_schema()), source=where), domain


def read_toml(path: str | Path) -> dict[str, Any]:
    path = check_name(path, "config file")
    if path.is_dir():
        raise TlgenError(f"config file {path} is a folder; give a .toml file")
    if not path.is_file():
        raise TlgenError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TlgenError(f"config file {path}: not valid TOML ({short(str(exc))})") from None
    except OSError as exc:
        raise TlgenError(f"config file {path} cannot be read ({exc.strerror})") from None


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one ``a.b=c``; ``c`` is read as a TOML value when it parses, else as text."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise TlgenError(f"--set {short(assignment)}: write KEY=VALUE, e.g. --set train.lr=1e-4")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    *parents, leaf = key.strip().split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise TlgenError(f"--set {short(assignment)}: {short(part)} is not a section")
    node[leaf] = value


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``top`` over ``base`` (returns a new dict)."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def schema_for(sections: dict[str, type] | None) -> type[RunConfig]:
    """The full config model: core sections plus the domain plugin's."""
    fields = {}
    for name, default in DOMAIN_SECTIONS.items():
        model = (sections or {}).get(name, default)
        fields[name] = (model, Field(default_factory=model))
    return create_model("Config", __base__=RunConfig, **fields)


def _valid_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        keys.append(prefix + name)
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys.extend(_valid_keys(ann, prefix + name + "."))
    return keys


def validate(raw: dict[str, Any], schema: type[RunConfig], source: str = "config") -> RunConfig:
    """Validate ``raw`` against ``schema``; raise a one-line TlgenError on the first problem."""
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(key, _valid_keys(schema), n=1, cutoff=0.5)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise TlgenError(f"{source}: unknown key {short(key)}{hint}") from None
        got = err.get("input")
        got_text = f" (got {short(got)})" if not isinstance(got, dict) else ""
        raise TlgenError(f"{source}: key '{key}': {err['msg']}{got_text}") from None


def dump(config: BaseModel) -> str:
    """The resolved config as TOML text (None values left out)."""
    import tomli_w

    return tomli_w.dumps(config.model_dump(mode="json", exclude_none=True))
