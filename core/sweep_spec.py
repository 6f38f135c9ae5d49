"""The ``[sweep]`` section of a sweep file, read and checked before any trial starts.

A sweep file is a run config (``plugin``, ``[train]``, ...: the base every trial starts
from, or ``config = "other.toml"`` naming one) plus::

    [sweep]
    n_trials = 12
    sampler = "tpe"                  # tpe (multivariate, the default), random, nsga2, qmc
    pruner = "median"                # median, percentile, hyperband, wilcoxon, none
    enqueue = [{"train.lr" = 5e-4}]  # trials run first (e.g. your current settings);
                                     # or [[sweep.enqueue]] tables, one per trial
    objectives = {valid = "maximize", test_loss = "minimize"}
    fixed = {"train.threads" = 1}    # keys every trial sets (never searched)
    [sweep.space]
    "train.lr" = {low = 1e-4, high = 3e-3, log = true}     # float range
    "train.max_steps" = {low = 50, high = 300, step = 50}  # int range (int bounds)
    "freeze.strategy" = ["full", "lora"]                    # categorical

Every problem is one line (a TlgenError) naming the key, found without writing anything.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config as cfg
from .errors import TlgenError

SAMPLERS = ("tpe", "random", "nsga2", "qmc")
PRUNERS = ("median", "percentile", "hyperband", "wilcoxon", "none")
DIRECTIONS = ("minimize", "maximize")
SWEEP_KEYS = {"config", "n_trials", "sampler", "pruner", "objectives", "fixed", "space",
              "storage", "seed", "study_name", "warmup_steps", "enqueue", "percentile"}
# Metrics core adds to every stage (run.heldout_losses); a plugin declares its own through
# the optional ``metric_names`` hook.
CORE_METRICS = ("val_loss", "test_loss", "val_perplexity", "test_perplexity")


@dataclass
class Param:
    """One searched config key: a float/int range (``log``, ``step``) or a list of choices."""

    key: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: list | None = None

    @property
    def kind(self) -> str:
        if self.choices is not None:
            return "categorical"
        return "int" if isinstance(self.low, int) and isinstance(self.high, int) else "float"

    def suggest(self, trial) -> Any:
        """The trial's value (Optuna's define-by-run ``suggest_*``)."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.key, self.choices)
        if self.kind == "int":
            return trial.suggest_int(self.key, self.low, self.high, step=self.step or 1,
                                     log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def corners(self) -> list:
        """The values that bound this parameter: each is validated against the run schema."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]


@dataclass
class SweepSpec:
    """A checked sweep: the base run config (raw), what is searched, what is optimised."""

    source: str
    base: dict[str, Any]
    plugin: str
    space: list[Param]
    objectives: dict[str, str]
    fixed: dict[str, Any] = field(default_factory=dict)
    n_trials: int = 20
    sampler: str = "tpe"
    pruner: str = "median"
    storage: str | None = None
    seed: int = 0
    study_name: str = "sweep"
    warmup_steps: int = 0  # evaluations before this step are never pruned
    percentile: float = 25.0  # pruner "percentile": prune below the best this share
    enqueue: list[dict[str, Any]] = field(default_factory=list)  # trials run first

    def fingerprint(self) -> str:
        """What a resumed sweep must keep: the space, the objectives, the base and fixed keys."""
        return json.dumps({"space": [vars(p) for p in self.space], "objectives": self.objectives,
                           "fixed": self.fixed, "base": self.base, "enqueue": self.enqueue},
                          sort_keys=True, default=str)

    def overrides(self, params: dict[str, Any]) -> list[str]:
        """``--set`` assignments for one trial: the fixed keys, then the trial's values."""
        return [f"{k}={toml_value(v)}" for k, v in {**self.fixed, **params}.items()]


def toml_value(value: Any) -> str:
    """A value as TOML text (what ``config.apply_override`` reads back)."""
    import tomli_w

    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def read_spec(path: str | Path, n_trials: int | None = None) -> SweepSpec:
    """Read and check a sweep file; ``n_trials`` (``--trials``) replaces the file's count."""
    path = Path(path)
    raw = cfg.read_toml(path)
    where = f"{path} [sweep]"
    section = raw.pop("sweep", None)
    if not isinstance(section, dict):
        raise TlgenError(f"{path}: no [sweep] section (see `tlgen sweep --help` for its keys)")
    unknown = sorted(set(section) - SWEEP_KEYS)
    if unknown:
        raise TlgenError(f"{where}: unknown key {unknown[0]!r}{_close(unknown[0], SWEEP_KEYS)}")
    base = raw
    if section.get("config"):
        base = cfg.merge(cfg.read_toml(path.parent / section["config"]), raw)
    plugin = base.get("plugin")
    if not plugin:
        raise TlgenError(f"{path}: no plugin: set plugin = \"NAME\" (or config = \"run.toml\" "
                         "naming a config that has one)")
    spec = SweepSpec(
        source=str(path), base=base, plugin=plugin,
        space=[_param(key, value, where) for key, value in (section.get("space") or {}).items()],
        objectives=_objectives(section.get("objectives"), where),
        fixed=dict(section.get("fixed") or {}),
        n_trials=n_trials if n_trials is not None else section.get("n_trials", 20),
        sampler=_choice(section, "sampler", SAMPLERS, where),
        pruner=_choice(section, "pruner", PRUNERS, where),
        storage=section.get("storage"), seed=section.get("seed", 0),
        study_name=section.get("study_name", path.stem if path.stem != "sweep"
                               else f"{Path(str(plugin)).stem}-sweep"),
        warmup_steps=section.get("warmup_steps", 0),
        percentile=section.get("percentile", 25.0))
    if not spec.space:
        raise TlgenError(f"{where}: the search space is empty; add [sweep.space] keys")
    if not isinstance(spec.n_trials, int) or spec.n_trials < 1:
        raise TlgenError(f"{where}: n_trials must be a whole number >= 1 (got {spec.n_trials!r})")
    if spec.sampler == "qmc" and any(p.kind == "categorical" for p in spec.space):
        raise TlgenError(f"{where}: sampler 'qmc' cannot search categorical keys; use tpe")
    spec.enqueue = _enqueued(section.get("enqueue", []), spec.space, where)
    if not (isinstance(spec.percentile, int | float) and 0 < spec.percentile < 100):
        raise TlgenError(f"{where}: percentile must be a number between 0 and 100 "
                         f"(got {spec.percentile!r})")
    _check_against_schema(spec, where)
    return spec


def _enqueued(value: Any, space: list[Param], where: str) -> list[dict[str, Any]]:
    """``enqueue``: trials to run first, each a table of space keys (those left out are
    sampled), every value inside its key's range or choices."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise TlgenError(f"{where}: enqueue: write a list of tables of space keys, e.g. "
                         "enqueue = [{\"train.lr\" = 5e-4}]")
    params = {p.key: p for p in space}
    for number, table in enumerate(value):
        for key, v in table.items():
            p = params.get(key)
            if p is None:
                raise TlgenError(f"{where}: enqueue #{number}: {key!r} is not a space key"
                                 f"{_close(key, params)}")
            inside = (v in p.choices if p.kind == "categorical" else
                      isinstance(v, int | float) and not isinstance(v, bool)
                      and p.low <= v <= p.high)
            if not inside:
                allowed = (f"one of {p.choices}" if p.kind == "categorical"
                           else f"in [{p.low}, {p.high}]")
                raise TlgenError(f"{where}: enqueue #{number}: {key} = {v!r} is not {allowed}")
    return [dict(table) for table in value]


def _param(key: str, value: Any, where: str) -> Param:
    if isinstance(value, list):
        if not value:
            raise TlgenError(f"{where}: space key {key!r} has no choices")
        return Param(key, choices=value)
    if not isinstance(value, dict) or not {"low", "high"} <= set(value):
        raise TlgenError(f"{where}: space key {key!r}: write {{low = A, high = B}} (with log = "
                         "true or step = S if wanted) or a list of choices")
    extra = set(value) - {"low", "high", "log", "step"}
    if extra:
        raise TlgenError(f"{where}: space key {key!r}: unknown field {sorted(extra)[0]!r} "
                         "(use low, high, log, step)")
    low, high = value["low"], value["high"]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
        raise TlgenError(f"{where}: space key {key!r}: low and high must be numbers")
    if low > high:
        raise TlgenError(f"{where}: space key {key!r}: low {low} > high {high}")
    log = bool(value.get("log", False))
    if log and low <= 0:
        raise TlgenError(f"{where}: space key {key!r}: a log range needs low > 0 (got {low})")
    if log and value.get("step") is not None:
        raise TlgenError(f"{where}: space key {key!r}: give log or step, not both")
    return Param(key, low=low, high=high, log=log, step=value.get("step"))


def _objectives(value: Any, where: str) -> dict[str, str]:
    if isinstance(value, str):
        value = {value: "minimize"}
    if not isinstance(value, dict) or not value:
        raise TlgenError(f"{where}: objectives: write {{metric = \"minimize\"}} or several, e.g. "
                         "{valid = \"maximize\", test_loss = \"minimize\"}")
    for name, direction in value.items():
        if direction not in DIRECTIONS:
            raise TlgenError(f"{where}: objective {name!r}: direction {direction!r} is not "
                             "minimize or maximize")
    return dict(value)


def _choice(section: dict, key: str, allowed: tuple[str, ...], where: str) -> str:
    value = section.get(key, allowed[0])
    if value not in allowed:
        raise TlgenError(f"{where}: {key} {value!r} is not one of {', '.join(allowed)}")
    return value


def _close(word: str, options) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_against_schema(spec: SweepSpec, where: str) -> None:
    """Each space key, at each of its bounds, and the fixed keys validate as a run config
    (the run's own validation: unknown keys get the closest match); no space key is fixed;
    every objective is a metric the plugin reports."""
    from .registry import plugin_manager

    for p in spec.space:
        for key in spec.fixed:
            if key == p.key or key.startswith(p.key + ".") or p.key.startswith(key + "."):
                raise TlgenError(f"{where}: {p.key!r} is both searched (space) and fixed "
                                 f"({key!r}); remove it from one of them")
    pm = plugin_manager()
    cases = [{}] + [{p.key: v} for p in spec.space for v in p.corners()]
    for case in cases:
        config, domain = cfg.assemble(pm, spec.plugin, raw=spec.base,
                                      overrides=spec.overrides(case),
                                      where=f"{where} {_label(case)}")
    declared = pm.domain_hooks(domain).metric_names(config=config)
    if declared is None:  # the plugin does not say: checked when the first trial ends
        return
    known = set(CORE_METRICS) | set(declared)
    for name in spec.objectives:
        if name not in known:
            raise TlgenError(f"{where}: objective {name!r} is not a metric of plugin "
                             f"{domain!r}{_close(name, known)}; it reports "
                             f"{', '.join(sorted(known))}")


def _label(case: dict) -> str:
    if not case:
        return "(base and fixed keys)"
    (key, value), = case.items()
    shown = f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else repr(value)
    return f"(space {key} = {shown})"
