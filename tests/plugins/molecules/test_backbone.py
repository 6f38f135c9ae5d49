"""Backbones load with from_pretrained: tlgen's own prior and a hub-style BPE prior, same code
path."""

import pytest

from tlgen import TlgenError
from tlgen.plugins.molecules import backbone, sampling
from tlgen.plugins.molecules.data import sequences as dataset
from tlgen.plugins.molecules.data.molecules import MoleculeSet


def test_own_prior_reloads_and_samples(tiny_prior):
    model, tokenizer = backbone.load_pretrained(tiny_prior)
    assert model.config.n_positions == 96 and tokenizer.pad_token_id == 0
    smiles = sampling.generate(model, tokenizer, 7, batch_size=4, max_tokens=20)
    assert len(smiles) == 7 and all(isinstance(s, str) and " " not in s for s in smiles)


def test_hub_style_bpe_prior_gets_bos_and_pad(bpe_prior, corpus):
    model, tokenizer = backbone.load_pretrained(bpe_prior)
    end = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert tokenizer.bos_token_id == tokenizer.eos_token_id == tokenizer.pad_token_id == end
    molecules = MoleculeSet(corpus[:20], [float("nan")] * 20, list(range(20)))
    kept, sequences, notes = dataset.usable(tokenizer, molecules, context=96, label="set")
    assert len(kept.smiles) == 20 and not notes
    assert sequences[0][0] == end and sequences[0][-1] == end
    assert tokenizer.decode(sequences[0], skip_special_tokens=True) == corpus[0]
    assert len(sampling.generate(model, tokenizer, 5, max_tokens=16)) == 5


def test_unique_sampling_returns_distinct_strings(tiny_prior):
    model, tokenizer = backbone.load_pretrained(tiny_prior)
    smiles = sampling.generate(model, tokenizer, 20, batch_size=8, max_tokens=12, unique=True)
    assert len(smiles) == len(set(smiles)) == 20


def test_sampling_is_seeded(tiny_prior):
    model, tokenizer = backbone.load_pretrained(tiny_prior)
    first = sampling.generate(model, tokenizer, 6, max_tokens=12, seed=3)
    assert first == sampling.generate(model, tokenizer, 6, max_tokens=12, seed=3)


def test_missing_or_wrong_backbone_folder(tmp_path):
    with pytest.raises(TlgenError, match="no such folder, and not a hub id"):
        backbone.load_pretrained(tmp_path / "nowhere")
    with pytest.raises(TlgenError, match="has no config.json"):
        backbone.load_pretrained(tmp_path)
