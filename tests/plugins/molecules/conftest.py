"""Tiny offline backbones for the molecules tests: tlgen's own GPT-2 prior and a hub-style BPE
one."""

from __future__ import annotations

import pytest

from tlgen.plugins.molecules.data import molecules as data

TINY = {"n_layer": 2, "n_embd": 32, "n_head": 2, "n_inner": 64, "n_positions": 96}


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    return data.moses_smiles("train", 500)


@pytest.fixture(scope="session")
def tiny_prior(tmp_path_factory, corpus):
    """An untrained atom-level GPT-2 prior saved in Hugging Face format."""
    from tlgen.plugins.molecules.backbone import build_prior

    return build_prior(tmp_path_factory.mktemp("prior"), corpus, **TINY)


@pytest.fixture(scope="session")
def bpe_prior(tmp_path_factory, corpus):
    """A GPT-2 with a byte-level BPE tokenizer whose only special token is <|endoftext|>,
    saved like hub SMILES priors (e.g. entropy/gpt2_zinc_87m): no BOS or PAD of its own."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=400, special_tokens=["<|endoftext|>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>")
    end = tokenizer.eos_token_id
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=96, n_embd=32,
                                       n_layer=2, n_head=2, bos_token_id=end, eos_token_id=end))
    folder = tmp_path_factory.mktemp("bpe_prior")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
