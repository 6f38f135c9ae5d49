"""The evaluate and item_metrics hooks' work: metrics of one stage's samples, and one row of
scores per sample.

The rows reach the report through ``StageResult.items`` (kept with the "before" stage, so a
resumed run's report still has it) and the user through ``samples/<stage>/scores.csv``; what
they are measured against is ``References``, which ``prepare_data`` puts in ``data.extras``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from functools import cached_property

import numpy as np
import pandas as pd

from tlgen import TlgenError

from ..property_model import PropertyModel
from . import molecular as M


def evaluate_samples(run, data, samples: list[str]) -> dict[str, float]:
    """Flat metrics of ``samples``: MOSES's set metrics and the means of the unique valid
    molecules' scores."""
    refs: References = data.extras["evaluation"]
    out, mols, _ = M.set_metrics(samples, refs.reference)
    unique = _unique(mols)
    scores = refs.scores(unique)
    for name in ("QED", "SA", "logP", "MW", "max_sim_train", "max_sim_test"):
        out[name] = _mean(scores[name])
    out["PAINS"] = _mean([M.alert(m, "PAINS") for m in unique])
    out["Brenk"] = _mean([M.alert(m, "BRENK") for m in unique])
    out["scaffold_recovery"] = M.scaffold_recovery(mols, refs.reference)
    if "predicted" in scores:
        out["pred_mean"] = _mean(scores["predicted"])
        out["pred_active"] = _mean(scores["predicted"] >= refs.activity["active_threshold"])
        out["property_model_r2"] = refs.activity["property_r2"]
    return out


def sample_rows(run, data, samples: list[str], stage: str) -> list[dict]:
    """One row per sample, in order: the SMILES as drawn, whether it parses, its canonical
    form, whether that is a training molecule, its properties, nearest-neighbour similarity
    to the training and held-out series, predicted activity (with a property model) and,
    when the run has ``[scoring]`` components, its score before any diversity filter
    (``score``) and each component's raw value (``raw.<name>``). Invalid rows hold None."""
    refs: References = data.extras["evaluation"]
    ref = refs.reference
    mols = M.parse(samples)
    valid = [m for m in mols if m is not None]
    scores = refs.scores(valid)
    scores["in_training_set"] = np.array([s in ref.train for s in scores["smiles"]], dtype=bool)
    if "scorer" in data.extras:
        score = data.extras["scorer"]
        total, _, raw = score(valid, list(scores["smiles"])) if valid else (
            np.zeros(0), None, np.zeros((len(score.labels), 0)))
        scores["score"] = total
        scores |= {f"raw.{label}": raw[j] for j, label in enumerate(score.labels)}
    scores["canonical"] = scores.pop("smiles")
    columns = list(scores)
    rows, index = [], 0
    for smiles, mol in zip(samples, mols):
        row: dict = {"smiles": smiles, "valid": mol is not None}
        if mol is None:
            row |= dict.fromkeys(columns)
        else:
            row |= {name: _plain(scores[name][index]) for name in columns}
            index += 1
        rows.append(row)
    if run.writes_samples:
        write(run.samples_dir(stage) / "scores.csv", rows)
    return rows


class References:
    """What samples are measured against, made by ``prepare_data`` (``data.extras
    ["evaluation"]``) and built from the data on first use, once: the reference statistics,
    the series' activity model (evaluation and the reward scorer share it) and the held-out
    series' own scores. Also the per-molecule scores already computed (:meth:`scores`)."""

    CACHED = 20_000  # molecules whose scores are kept (a tuple of floats each: ~10 MB)

    def __init__(self, cfg, molecules: dict, seed: int, log) -> None:
        self.cfg, self.molecules, self.seed, self.log = cfg, molecules, seed, log
        self._known: OrderedDict[str, tuple[float, ...]] = OrderedDict()
        self._names: list[str] = []  # the score columns, in the tuples' order

    def scores(self, mols: list) -> dict[str, np.ndarray]:
        """:func:`_scores` of ``mols``, each distinct molecule (canonical SMILES) computed
        once and kept, least recently used dropped first: a stage's ``evaluate`` and
        ``item_metrics`` score its molecules once, and a server the molecules a focused
        series keeps drawing (the fine-tuned default run: one in ten repeats within 500)."""
        smiles = M.canonical(mols)
        new = {s: m for s, m in zip(smiles, mols) if s not in self._known}
        if not smiles:
            return _scores([], self.reference, self.property_model)
        if new:
            found = _scores(list(new.values()), self.reference, self.property_model)
            self._names = [name for name in found if name != "smiles"]
            columns = np.stack([np.asarray(found[name], dtype=float) for name in self._names])
            for key, values in zip(new, columns.T.tolist()):
                self._known[key] = tuple(values)
        table = np.array([self._known[s] for s in smiles], dtype=float)
        for key in smiles:
            self._known.move_to_end(key)
        while len(self._known) > self.CACHED:
            self._known.popitem(last=False)
        return {"smiles": np.array(smiles, dtype=object),
                **{name: table[:, j] for j, name in enumerate(self._names)}}

    @cached_property
    def reference(self) -> M.Reference:
        train, test = self.molecules["train"], self.molecules["test"]
        limit = self.cfg.reference_max_molecules
        return M.Reference.build(train.smiles, test.smiles[:limit], self.cfg.fcd,
                                 train_limit=limit)

    @cached_property
    def activity(self) -> dict:
        """The series' activity model (``property_model``), its R^2 on the held-out scaffolds
        and the training set's 75th percentile (``active_threshold``)."""
        train, test = self.molecules["train"], self.molecules["test"]
        if not train.has_values():
            raise TlgenError("the predicted_activity scoring component needs a series with a "
                             "property (e.g. pIC50): set data.property_column")
        model = PropertyModel(self.seed).fit(train.smiles, train.values)
        found = {"property_model": model, "property_r2": model.r2(test.smiles, test.values),
                 "active_threshold": float(np.nanpercentile(train.values, 75))}
        self.log(f"property model: R^2 = {found['property_r2']:.2f} on the held-out scaffolds")
        return found

    @property
    def property_model(self) -> PropertyModel | None:
        """The activity model when ``evaluate.property_model`` is on and the series has values."""
        if self.cfg.property_model and self.molecules["train"].has_values():
            return self.activity["property_model"]
        return None

    @cached_property
    def series(self) -> dict[str, np.ndarray]:
        """The held-out series' per-molecule scores (the report's reference histograms)."""
        test = self.molecules["test"].smiles[:self.cfg.reference_max_molecules]
        return _scores([m for m in M.parse(test) if m is not None], self.reference,
                       self.property_model)


def _unique(mols: list) -> list:
    seen, out = set(), []
    for mol, smiles in zip(mols, M.canonical(mols)):
        if smiles not in seen:
            seen.add(smiles)
            out.append(mol)
    return out


def _scores(mols: list, ref: M.Reference, model: PropertyModel | None) -> dict[str, np.ndarray]:
    """Per-molecule scores: properties, nearest-neighbour similarity and predicted activity."""
    fps = M.fingerprints(mols)
    scores = {"smiles": np.array(M.canonical(mols), dtype=object), **M.properties(mols)}
    scores["max_sim_train"] = M.max_similarity(ref.train_fps, fps)
    scores["max_sim_test"] = M.max_similarity(ref.test_fps, fps)
    if model is not None:
        scores["predicted"] = model.predict(mols)
    return scores


def write(path, scores: dict[str, np.ndarray] | list[dict]) -> None:
    """A score table for the user (never read back)."""
    pd.DataFrame(scores).to_csv(path, index=False, float_format="%.4g")


def _plain(value):
    """A numpy scalar as the Python number, bool or text it holds (rows travel as JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def _mean(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if values.size else math.nan
