"""Held-out losses: one evaluation code for the trainer's validation and the before/after
``val_loss`` / ``test_loss`` of a run, token-weighted like the training loss."""

from __future__ import annotations

from typing import Iterable

import torch

from .types import Backbone, DataSplits, count_items


@torch.no_grad()
def loss_sums(run, backbone: Backbone, model: torch.nn.Module, batches: Iterable[dict],
              count_key: str | None, limit: int | None = None) -> torch.Tensor:
    """``[sum of loss x count, count]`` over ``batches`` (on the device, no host sync); the
    ``loss`` hook is called with ``training=False``."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = torch.zeros(2, device=device)
    for i, batch in enumerate(batches):
        if limit and i >= limit:
            break
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        loss = run.call("loss", backbone=backbone, model=model, batch=batch, training=False)
        weight = count_items(batch, count_key).to(device).float()
        total += torch.stack([loss.float() * weight, weight])
    model.train(was_training)
    return total


def heldout_loss(run, backbone: Backbone, data: DataSplits, dataset) -> float:
    """Mean loss of ``dataset`` under ``backbone.model`` (one process, token-weighted)."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=run.config.train.batch_size,
                                         collate_fn=data.collate_fn)
    total = loss_sums(run, backbone, backbone.model, loader, data.count_key,
                      run.config.train.heldout_batches)
    return (total[0] / total[1].clamp(min=1e-9)).item()
