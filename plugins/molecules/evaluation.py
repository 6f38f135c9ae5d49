"""The evaluate hook's work: metrics of one stage's samples, per-molecule scores saved for the report."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from . import metrics as M
from .property_model import PropertyModel


def evaluate_samples(run, backbone, samples: list[str], data, stage: str) -> dict[str, float]:
    """Flat metrics of ``samples``; writes ``samples/<stage>_scores.csv`` (and the held-out series' once)."""
    cfg = run.config.evaluate
    shared = _shared(run, data)
    ref: M.Reference = shared["reference"]
    out, mols, fps = M.set_metrics(samples, ref)
    unique = _unique(mols)
    scores = _scores(unique, ref, shared.get("property_model"))
    for name in ("QED", "SA", "logP", "MW"):
        out[name] = _mean(scores[name])
    out["max_sim_train"] = _mean(scores["max_sim_train"])
    out["max_sim_test"] = _mean(scores["max_sim_test"])
    out["PAINS"] = _mean([M.alert(m, "PAINS") for m in unique])
    out["Brenk"] = _mean([M.alert(m, "BRENK") for m in unique])
    out["scaffold_recovery"] = M.scaffold_recovery(mols, ref)
    if "predicted" in scores:
        out["pred_mean"] = _mean(scores["predicted"])
        out["pred_active"] = _mean(scores["predicted"] >= shared["active_threshold"])
        out["property_model_r2"] = shared["property_r2"]
    if data.test is not None and len(data.test):
        out["test_nll"] = mean_nll(backbone.model, data.test, data.collate_fn,
                                   limit=cfg.nll_max_molecules)
    _save(run, stage, scores)
    return out


def _shared(run, data) -> dict:
    """Reference statistics and the property model, built at the first evaluation and kept."""
    if "evaluation" in data.extras:
        return data.extras["evaluation"]
    cfg, seed = run.config.evaluate, run.config.seed
    molecules = data.extras["molecules"]
    train, test = molecules["train"], molecules["test"]
    limit = cfg.reference_max_molecules
    ref = M.Reference.build(train.smiles, test.smiles[:limit], cfg.fcd, train_limit=limit)
    shared = {"reference": ref}
    if cfg.property_model and train.has_values():
        model = PropertyModel(seed).fit(train.smiles, train.values)
        shared["property_model"] = model
        shared["property_r2"] = model.r2(test.smiles, test.values)
        shared["active_threshold"] = float(np.nanpercentile(train.values, 75))
        run.log(f"property model: R^2 = {shared['property_r2']:.2f} on the held-out scaffolds")
    series = [m for m in M.parse(test.smiles[:limit]) if m is not None]
    _save(run, "series", _scores(series, ref, shared.get("property_model")))
    data.extras["evaluation"] = shared
    return shared


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


def _save(run, stage: str, scores: dict[str, np.ndarray]) -> None:
    path = run.dir / "samples" / f"{stage}_scores.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(scores).to_csv(path, index=False, float_format="%.4g")


def _mean(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if values.size else math.nan


@torch.no_grad()
def mean_nll(model, dataset, collate_fn, batch_size: int = 256, limit: int | None = None) -> float:
    """Mean negative log-likelihood per token of ``dataset`` under ``model`` (nats)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    count = min(len(dataset), limit or len(dataset))
    total, tokens = 0.0, 0
    for start in range(0, count, batch_size):
        batch = collate_fn([dataset[i] for i in range(start, min(start + batch_size, count))])
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        labels = batch["labels"][:, 1:]
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="sum")
        total += loss.item()
        tokens += int((labels != -100).sum())
    model.train(was_training)
    return total / max(tokens, 1)
