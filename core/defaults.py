"""Core's default hook implementations, registered as the plugin ``tlgen.defaults``.

All are ``trylast``: a domain plugin that implements the same hook wins, and a
third party can wrap any of them with ``@hookimpl(wrapper=True)``.
"""

from __future__ import annotations

import copy
from pathlib import Path

from .errors import PluginError
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
def loss(backbone, model, batch):
    output = model(**batch)
    found = getattr(output, "loss", None)
    if found is None:
        raise PluginError(f"core's default loss needs a model whose output has .loss (a Hugging "
                          f"Face model given labels); {backbone.name or type(model).__name__} "
                          "returned none: implement the loss hook")
    return found


@hookimpl(trylast=True)
def train(run, backbone, data):
    if run.config.train.mode == "reward":
        from .reward import RewardLoop

        return RewardLoop(run, backbone, data).fit()
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
    if run.writes_samples:
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
    """``save_pretrained`` of the model (peft adapters merged when ``merge``) and of the
    tokenizer or processor; a backbone of another kind has its plugin's own export (checked
    before training)."""
    model = backbone.model
    if merge and hasattr(model, "merge_and_unload"):
        model = copy.deepcopy(model).merge_and_unload()
    model.save_pretrained(out_dir)
    if backbone.tokenizer is not None and hasattr(backbone.tokenizer, "save_pretrained"):
        backbone.tokenizer.save_pretrained(out_dir)
    return out_dir
