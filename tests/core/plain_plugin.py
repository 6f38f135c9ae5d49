"""A test domain whose backbone is a plain ``torch.nn.Module`` (no Hugging Face class): a
character-level MLP language model over a fixed context. It implements what such a
backbone needs of its plugin: ``loss``, ``layer_map`` and ``export``."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tlgen import hookimpl
from tlgen.config import DataSection, SampleSection

ALPHABET = "abcdefghijklmnopqrstuvwxyz ."
CONTEXT = 4
TEXT = "the cat sat on the mat. a dog ran to the log. " * 12


class PlainData(DataSection):
    text: str = TEXT


class PlainSample(SampleSection):
    length: int = 12


class CharMLP(torch.nn.Module):
    """Embeddings of the last ``CONTEXT`` characters -> two blocks -> a head named ``out``
    (a name that is also the suffix of peft's ``lora_dropout``)."""

    def __init__(self, vocab: int = len(ALPHABET), width: int = 32) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, width)
        self.blocks = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(width * (CONTEXT if i == 0 else 1), width),
                                torch.nn.Tanh()) for i in range(2))
        self.out = torch.nn.Linear(width, vocab)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        h = self.emb(context).flatten(1)
        for block in self.blocks:
            h = block(h)
        return self.out(h)


@hookimpl
def config_schema():
    return {"data": PlainData, "sample": PlainSample}


@hookimpl
def default_train_config():
    return {"train": {"batch_size": 16, "lr": 3e-3, "warmup_steps": 0, "max_steps": 8,
                      "bucket_by_length": False},
            "freeze": {"lora_r": 4, "lora_targets": ["0.0", "1.0"], "modules_to_save": ["out"]}}


@hookimpl
def load_backbone(run, path):
    from tlgen import Backbone

    torch.manual_seed(run.config.seed)
    model = CharMLP()
    if path:
        from safetensors.torch import load_model

        load_model(model, str(Path(path) / "model.safetensors"))
    return Backbone(model=model, name="char-mlp")


@hookimpl
def prepare_data(run):
    from tlgen import DataSplits

    ids = [ALPHABET.index(c) for c in run.config.data.text if c in ALPHABET]
    pairs = [(ids[i:i + CONTEXT], ids[i + CONTEXT]) for i in range(len(ids) - CONTEXT)]
    cut = len(pairs) // 10
    return DataSplits(train=pairs[cut:], validation=pairs[:cut], collate_fn=_collate,
                      count_key=None, unit="characters")


def _collate(items):
    return {"context": torch.tensor([c for c, _ in items]),
            "target": torch.tensor([t for _, t in items])}


@hookimpl
def loss(model, batch, training):
    logits = model(batch["context"])
    return torch.nn.functional.cross_entropy(logits, batch["target"])


@hookimpl
def layer_map():
    from tlgen import LayerMap

    return LayerMap(embeddings=["emb"], blocks=["blocks.0", "blocks.1"],
                    lora_targets=["0.0", "1.0"], modules_to_save=["out"])


@hookimpl
def sample(run, backbone, n):
    model = backbone.model
    generator = torch.Generator().manual_seed(run.config.sample.seed)
    context = torch.full((n, CONTEXT), ALPHABET.index(" "))
    text = []
    with torch.no_grad():
        for _ in range(run.config.sample.length):
            probs = torch.softmax(model(context=context), -1)
            nxt = torch.multinomial(probs, 1, generator=generator)
            text.append(nxt)
            context = torch.cat([context[:, 1:], nxt], 1)
    rows = torch.cat(text, 1).tolist()
    return ["".join(ALPHABET[i] for i in row) for row in rows]


@hookimpl
def evaluate(samples):
    words = {w for s in samples for w in s.split()}
    return {"known_words": len(words & set(TEXT.split())) / max(1, len(words))}


@hookimpl
def export(backbone, out_dir, merge):
    from safetensors.torch import save_model

    model = backbone.model
    if hasattr(model, "merge_and_unload"):  # a plain base has no HF loader: always merged
        import copy

        model = copy.deepcopy(model).merge_and_unload()
    save_model(model, str(Path(out_dir) / "model.safetensors"))
    (Path(out_dir) / "config.json").write_text(json.dumps({"class": "CharMLP", "width": 32}))
    return out_dir
