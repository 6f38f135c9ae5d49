"""The SMILES language model: a new GPT-2 prior, or any causal LM loaded with
``from_pretrained``."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tlgen import TlgenError

from .tokenizer import smiles_tokenizer

SHIPPED_PRIOR = Path(__file__).with_name("prior")


def new_prior(corpus: Iterable[str], n_layer: int = 4, n_embd: int = 256, n_head: int = 8,
              n_positions: int = 128, n_inner: int = 512):
    """An untrained GPT-2 and the atom-level tokenizer whose vocabulary covers ``corpus``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = smiles_tokenizer(corpus, model_max_length=n_positions)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
        n_head=n_head, n_inner=n_inner, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    return GPT2LMHeadModel(config), tokenizer


def build_prior(out_dir: str | Path, corpus: Iterable[str], **sizes: int) -> Path:
    """Save an untrained GPT-2 prior (config + safetensors + tokenizer) in ``out_dir``."""
    model, tokenizer = new_prior(corpus, **sizes)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def load_pretrained(path: str | Path):
    """Model and tokenizer from a hub id or folder, with BOS/EOS/PAD ready for generation
    (hub priors often lack BOS or PAD: EOS stands in)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tlgen.lm import fill_special_tokens, resolve_source

    source = resolve_source(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source)
    except OSError as exc:
        raise TlgenError(f"backbone {path}: cannot load ({str(exc).splitlines()[0]})") from None
    fill_special_tokens(model, tokenizer)
    return model, tokenizer
