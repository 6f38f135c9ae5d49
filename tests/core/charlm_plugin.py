"""A tiny test-only domain plugin: a character-level GPT-2 on a few KB of text.

It exercises every hook through the real trainer; the backbone is built in code
(``from_scratch``) or loaded with ``from_pretrained`` from a folder a test saved.
"""

from __future__ import annotations

from tlgen import hookimpl
from tlgen.config import BackboneSection, DataSection, SampleSection

TEXT = (
    "Shall I compare thee to a summer's day? Thou art more lovely and more temperate: "
    "Rough winds do shake the darling buds of May, And summer's lease hath all too short a date. "
) * 12
ALPHABET = sorted(set(TEXT))
BOS = len(ALPHABET)
VOCAB = BOS + 1


class CharBackbone(BackboneSection):
    from_scratch: bool = True
    n_layer: int = 2
    n_embd: int = 32


class CharData(DataSection):
    text: str = TEXT
    min_len: int = 8
    max_len: int = 40


class CharSample(SampleSection):
    n: int = 4
    length: int = 20


@hookimpl
def config_schema():
    return {"backbone": CharBackbone, "data": CharData, "sample": CharSample}


@hookimpl
def default_train_config():
    return {"train": {"max_steps": 12, "batch_size": 8, "lr": 3e-3, "warmup_steps": 2,
                      "eval_every": 4, "save_every": 4, "log_every": 2},
            "freeze": {"strategy": "full"}}


@hookimpl
def load_backbone(run, path):
    from transformers import GPT2Config, GPT2LMHeadModel

    from tlgen import Backbone

    from tlgen.lm import resolve_source

    cfg = run.config.backbone
    source = path or cfg.path
    if source:
        model = GPT2LMHeadModel.from_pretrained(resolve_source(source))
    else:
        model = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=cfg.n_embd,
                                           n_layer=cfg.n_layer, n_head=2, bos_token_id=BOS,
                                           eos_token_id=BOS, pad_token_id=BOS))
    return Backbone(model=model, name="charlm")


@hookimpl
def prepare_data(run):
    from tlgen import DataSplits, TlgenError
    from tlgen.data import CausalLMCollator, TokenSequences

    d = run.config.data
    ids = [ALPHABET.index(c) for c in d.text if c in ALPHABET]
    if not ids:
        raise TlgenError("data.text: the training set is empty")
    seqs, i, k = [], 0, 0
    while i < len(ids):  # variable lengths, deterministic
        n = d.min_len + (k * 7) % (d.max_len - d.min_len + 1)
        seqs.append([BOS] + ids[i : i + n])
        i, k = i + n, k + 1
    cut = max(1, len(seqs) // 10)
    train, val = TokenSequences(seqs[cut:]), TokenSequences(seqs[:cut])
    return DataSplits(train=train, validation=val, collate_fn=CausalLMCollator(BOS),
                      lengths=train.lengths())


@hookimpl
def sample(run, backbone, n):
    from tlgen.lm import generate_ids

    cfg = run.config.sample
    rows = generate_ids(backbone.model, n, max_tokens=1 + cfg.length, seed=cfg.seed)
    return ["".join(ALPHABET[t] for t in row[1:] if t < BOS) for row in rows]


@hookimpl
def evaluate(samples):
    chars = "".join(samples)
    return {"distinct_chars": len(set(chars)) / max(1, len(ALPHABET))}


@hookimpl
def report(results):
    return [{"title": "Samples", "items": [f"{stage}: {' | '.join(r.samples)}"
                                           for stage, r in results.items()]}]


@hookimpl
def metric_names():
    return ["distinct_chars"]
