"""A test-only text domain for ``tlgen serve`` / ``tlgen monitor``: a character-level GPT-2
with a real (Hugging Face fast) tokenizer built in code, so the server sees a causal LM with
a tokenizer; it implements ``item_metrics`` (one row per sample) and reads every sampling
parameter from ``run.config.sample`` as real plugins do. ``sample.fail = true`` makes the
hook raise, to show that a failing request does not take the server down."""

from __future__ import annotations

from pydantic import Field

from tlgen import hookimpl
from tlgen.config import BackboneSection, DataSection, SampleSection

TEXT = (
    "Shall I compare thee to a summer's day? Thou art more lovely and more temperate: "
    "Rough winds do shake the darling buds of May, And summer's lease hath all too short a date. "
) * 12
ALPHABET = sorted(set(TEXT))
VOWELS = set("aeiouAEIOU")


class TextBackbone(BackboneSection):
    n_layer: int = 2
    n_embd: int = 32


class TextData(DataSection):
    min_len: int = 8
    max_len: int = 40


class TextSample(SampleSection):
    n: int = Field(64, ge=1)
    length: int = Field(24, ge=1, le=60)
    temperature: float = Field(1.0, gt=0)
    fail: bool = False


def tokenizer():
    """A character tokenizer: one id per character of ALPHABET, ``<s>`` as BOS/EOS/pad."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<s>": 0, **{c: i + 1 for i, c in enumerate(ALPHABET)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<s>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="<s>",
                                   pad_token="<s>", unk_token="<s>")


@hookimpl
def config_schema():
    return {"backbone": TextBackbone, "data": TextData, "sample": TextSample}


@hookimpl
def default_train_config():
    return {"train": {"max_steps": 30, "batch_size": 8, "lr": 3e-3, "warmup_steps": 2,
                      "eval_every": 10, "save_every": 10, "log_every": 5},
            "freeze": {"strategy": "full"}}


@hookimpl
def load_backbone(run, path):
    from transformers import GPT2Config, GPT2LMHeadModel

    from tlgen import Backbone

    cfg = run.config.backbone
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(ALPHABET) + 1, n_positions=64,
                                       n_embd=cfg.n_embd, n_layer=cfg.n_layer, n_head=2,
                                       bos_token_id=0, eos_token_id=0, pad_token_id=0))
    return Backbone(model=model, tokenizer=tokenizer(), name="textlm-scratch")


@hookimpl
def prepare_data(run, backbone):
    from tlgen import DataSplits
    from tlgen.data import CausalLMCollator, TokenSequences

    d = run.config.data
    ids = backbone.tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    seqs, i, k = [], 0, 0
    while i < len(ids):
        n = d.min_len + (k * 7) % (d.max_len - d.min_len + 1)
        seqs.append([0] + ids[i:i + n] + [0])
        i, k = i + n, k + 1
    cut = max(1, len(seqs) // 10)
    train, val = TokenSequences(seqs[cut:]), TokenSequences(seqs[:cut])
    return DataSplits(train=train, validation=val, collate_fn=CausalLMCollator(0),
                      lengths=train.lengths())


@hookimpl
def sample(run, backbone, n):
    import torch

    cfg = run.config.sample
    if cfg.fail:
        raise RuntimeError("asked to fail")
    model = backbone.model
    torch.manual_seed(cfg.seed)
    start = torch.zeros((n, 1), dtype=torch.long, device=model.device)
    out = model.generate(start, max_new_tokens=cfg.length, do_sample=True, top_k=0,
                         temperature=cfg.temperature, pad_token_id=0, eos_token_id=0,
                         attention_mask=torch.ones_like(start))
    return backbone.tokenizer.batch_decode(out[:, 1:], skip_special_tokens=True)


@hookimpl
def item_metrics(samples):
    rows = []
    for text in samples:
        words = text.split()
        rows.append({"length": len(text), "vowel_share": sum(c in VOWELS for c in text) /
                     max(1, len(text)), "valid": bool(words) and all(w.isalpha() for w in words),
                     "first": text[:1] or "(empty)"})
    return rows


@hookimpl
def evaluate(samples):
    chars = "".join(samples)
    return {"distinct_chars": len(set(chars)) / len(ALPHABET),
            "mean_length": sum(map(len, samples)) / max(1, len(samples))}
