"""The evaluate and item_metrics hooks' work: metrics of one stage's samples, and one row of
scores per sample.

The rows reach the report through ``StageResult.items`` (kept with the "before" stage, so a
resumed run's report still has it) and the user through ``samples/<stage>/scores.csv``; the
held-out series' scores are kept with the reference in ``data.extras``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tlgen import TlgenError

from . import metrics as M
from .property_model import PropertyModel


def evaluate_samples(run, data, samples: list[str]) -> dict[str, float]:
    """Flat metrics of ``samples``: MOSES's set metrics and the means of the unique valid
    molecules' scores."""
    shared = reference(run, data)
    ref: M.Reference = shared["reference"]
    out, mols, _ = M.set_metrics(samples, ref)
    unique = _unique(mols)
    scores = _scores(unique, ref, shared.get("property_model"))
    for name in ("QED", "SA", "logP", "MW", "max_sim_train", "max_sim_test"):
        out[name] = _mean(scores[name])
    out["PAINS"] = _mean([M.alert(m, "PAINS") for m in unique])
    out["Brenk"] = _mean([M.alert(m, "BRENK") for m in unique])
    out["scaffold_recovery"] = M.scaffold_recovery(mols, ref)
    if "predicted" in scores:
        out["pred_mean"] = _mean(scores["predicted"])
        out["pred_active"] = _mean(scores["predicted"] >= shared["active_threshold"])
        out["property_model_r2"] = shared["property_r2"]
    return out


def sample_rows(run, data, samples: list[str], stage: str) -> list[dict]:
    """One row per sample, in order: the SMILES as drawn, whether it parses, its canonical
    form, whether that is a training molecule, its properties, nearest-neighbour similarity
    to the training and held-out series, predicted activity (with a property model) and,
    when the run has ``[scoring]`` components, its score before any diversity filter
    (``score``) and each component's raw value (``raw.<name>``). Invalid rows hold None."""
    shared = reference(run, data)
    ref: M.Reference = shared["reference"]
    mols = M.parse(samples)
    valid = [m for m in mols if m is not None]
    scores = _scores(valid, ref, shared.get("property_model"))
    scores["in_training_set"] = np.array([s in ref.train for s in scores["smiles"]], dtype=bool)
    if run.config.scoring.components:
        from .reward import scorer

        score = scorer(run, data)
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
    _write(run.samples_dir(stage) / "scores.csv", rows)
    return rows


def reference(run, data) -> dict:
    """Reference statistics, the property model and the held-out series' scores: built from
    the data at the first evaluation and kept in ``data.extras["evaluation"]``."""
    if "evaluation" in data.extras:
        return data.extras["evaluation"]
    cfg = run.config.evaluate
    molecules = data.extras["molecules"]
    train, test = molecules["train"], molecules["test"]
    limit = cfg.reference_max_molecules
    ref = M.Reference.build(train.smiles, test.smiles[:limit], cfg.fcd, train_limit=limit)
    shared = {"reference": ref}
    if cfg.property_model and train.has_values():
        shared |= property_model(run, data)
    series = [m for m in M.parse(test.smiles[:limit]) if m is not None]
    shared["series"] = _scores(series, ref, shared.get("property_model"))
    _write(run.samples_dir("series") / "scores.csv", shared["series"])
    data.extras["evaluation"] = shared
    return shared


def property_model(run, data) -> dict:
    """The series' activity model (``property_model``), its R^2 on the held-out scaffolds and
    the training set's 75th percentile (``active_threshold``): fitted once, kept in
    ``data.extras["property_model"]`` for evaluation and the reward stage alike."""
    if "property_model" in data.extras:
        return data.extras["property_model"]
    molecules = data.extras["molecules"]
    train, test = molecules["train"], molecules["test"]
    if not train.has_values():
        raise TlgenError("the predicted_activity scoring component needs a series with a "
                         "property (e.g. pIC50): set data.property_column")
    model = PropertyModel(run.config.seed).fit(train.smiles, train.values)
    found = {"property_model": model, "property_r2": model.r2(test.smiles, test.values),
             "active_threshold": float(np.nanpercentile(train.values, 75))}
    run.log(f"property model: R^2 = {found['property_r2']:.2f} on the held-out scaffolds")
    data.extras["property_model"] = found
    return found


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


def _write(path, scores: dict[str, np.ndarray] | list[dict]) -> None:
    """A score table for the user (never read back)."""
    pd.DataFrame(scores).to_csv(path, index=False, float_format="%.4g")


def _plain(value):
    """A numpy scalar as the Python number, bool or text it holds (rows travel as JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def _mean(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if values.size else math.nan
