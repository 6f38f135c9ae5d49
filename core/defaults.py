"""Core's default hook implementations, registered as the plugin ``tlgen.defaults``.

All are ``trylast``: a domain plugin that implements the same hook wins, and a
third party can wrap any of them with ``@hookimpl(wrapper=True)``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from .hookspecs import hookimpl


@hookimpl(trylast=True)
def layer_map(backbone):
    from .freeze import causal_lm_layer_map

    return causal_lm_layer_map(backbone.model)


@hookimpl(trylast=True)
def freeze(run, backbone, layer_map):
    from . import freeze as strategies

    return strategies.apply(backbone, layer_map, run.config.freeze)


@hookimpl(trylast=True)
def loss(model, batch):
    return model(**batch).loss


@hookimpl(trylast=True)
def train(run, backbone, data):
    if run.config.train.mode == "reward":
        from .reward import RewardTrainer

        return RewardTrainer(run, backbone, data).fit()
    from .trainer import Trainer

    return Trainer(run, backbone, data).fit()


@hookimpl(trylast=True)
def sample(run, backbone, n, stage):
    """For a causal LM with a tokenizer: ``n`` texts drawn from BOS (and ``sample.prompt``)
    up to EOS or ``sample.max_tokens``, at ``sample.temperature``, seeded by ``sample.seed``;
    also ``samples/<stage>/samples.txt``. Any other backbone: the domain writes ``sample``."""
    if backbone.tokenizer is None or not hasattr(backbone.model, "generate"):
        return None
    from .lm import generate_texts

    cfg = run.config.sample
    texts = generate_texts(backbone.model, backbone.tokenizer, n,
                           temperature=getattr(cfg, "temperature", 1.0),
                           max_tokens=getattr(cfg, "max_tokens", None) or 128,
                           prompt=getattr(cfg, "prompt", ""), seed=cfg.seed)
    (run.samples_dir(stage) / "samples.txt").write_text("\n\n".join(texts) + "\n",
                                                        encoding="utf-8")
    return texts


@hookimpl(trylast=True)
def sample_ids(backbone, model, n, temperature, max_tokens):
    from .lm import generate_ids

    return generate_ids(model, n, temperature=temperature, max_tokens=max_tokens)


@hookimpl(trylast=True)
def decode(backbone, ids):
    return backbone.tokenizer.batch_decode(ids, skip_special_tokens=True)


@hookimpl(trylast=True)
def export(backbone, out_dir: Path, merge: bool):
    model = backbone.model
    if merge and hasattr(model, "merge_and_unload"):
        model = copy.deepcopy(model).merge_and_unload()
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(out_dir)
    else:  # a plain torch module: its weights, and what it is, for torch.load_state_dict
        from safetensors.torch import save_model

        save_model(model, str(Path(out_dir) / "model.safetensors"))
        kind = type(model)
        (Path(out_dir) / "config.json").write_text(json.dumps(
            {"class": f"{kind.__module__}.{kind.__qualname__}", "backbone": backbone.name,
             "parameters": sum(p.numel() for p in model.parameters())}, indent=2))
    if backbone.tokenizer is not None and hasattr(backbone.tokenizer, "save_pretrained"):
        backbone.tokenizer.save_pretrained(out_dir)
    return out_dir
