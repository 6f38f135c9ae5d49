"""Fused kernels in place of slow modules that compute the same function.

transformers writes GPT-2's activation (``gelu_new``, the tanh approximation of GELU) as
six element-wise torch operations, each a pass over the MLP's widest tensor forward and
backward; torch has the same formula as one fused kernel (``gelu(x, approximate="tanh")``,
transformers' own ``GELUTanh``, which its docs call "equivalent to NewGELU ... but much
faster"). On a CPU those passes are about a third of a small GPT-2's training step
(benchmarks/trainer_vs_hf.py). The swap leaves parameters, state dicts and the exported
config untouched; outputs agree to float rounding.
"""

from __future__ import annotations

import torch


def fuse_activations(model: torch.nn.Module) -> int:
    """Replace every ``NewGELUActivation`` in ``model`` by the fused ``GELUTanh``; return
    how many were replaced (0 for a model without them, e.g. Llama's SiLU, a UNet)."""
    try:
        from transformers.activations import GELUTanh, NewGELUActivation
    except ImportError:  # an older transformers: nothing to swap for
        return 0
    replaced = 0
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) is NewGELUActivation:
                setattr(parent, name, GELUTanh())
                replaced += 1
    return replaced
