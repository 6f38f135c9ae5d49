"""tlgen.lm, the chores of a causal-LM plugin: where a backbone comes from, its special
tokens, BOS/EOS encoding, a seeded hold-out split, drawing (and core's default ``sample``)."""

from __future__ import annotations

import pytest
import torch

from tlgen import TlgenError
from tlgen import lm


def tiny_char_lm():
    """A tiny GPT-2 over characters with a Hugging Face tokenizer that has no BOS or PAD."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["</s>", "<unk>", *"abcdefgh "])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="</s>",
                                        unk_token="<unk>")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_positions=32, n_embd=16,
                                       n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0))
    lm.fill_special_tokens(model, tokenizer)
    return model, tokenizer


@pytest.fixture(scope="module")
def char_lm():
    return tiny_char_lm()


def test_a_source_is_a_model_folder_or_a_hub_id(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert lm.resolve_source(str(tmp_path)) == str(tmp_path)
    with pytest.raises(TlgenError, match="has no tokenizer"):
        lm.resolve_source(str(tmp_path), tokenizer=True)
    assert lm.resolve_source("gpt2") == "gpt2"  # a bare hub name
    assert lm.resolve_source("HuggingFaceTB/SmolLM2-135M") == "HuggingFaceTB/SmolLM2-135M"
    for missing in ("runs/a/model", str(tmp_path / "nope"), "./nope", "~/nope"):
        with pytest.raises(TlgenError, match="^backbone.path .*: no such folder, and not a hub"):
            lm.resolve_source(missing)
    with pytest.raises(TlgenError, match="has no model_index.json"):
        lm.resolve_source(str(tmp_path), marker="model_index.json")
    with pytest.raises(TlgenError, match="is a file"):
        lm.resolve_source(str(tmp_path / "config.json"))


def test_special_tokens_are_filled_from_eos(char_lm):
    model, tokenizer = char_lm
    assert tokenizer.bos_token_id == tokenizer.pad_token_id == tokenizer.eos_token_id == 0
    assert model.generation_config.pad_token_id == 0


def test_texts_are_encoded_between_bos_and_eos(char_lm):
    _, tokenizer = char_lm
    assert lm.encode_texts(tokenizer, ["ab", "cde"]) == [[0, 2, 3, 0], [0, 4, 5, 6, 0]]
    assert lm.encode_texts(tokenizer, ["cde"], max_length=3, bos=7) == [[7, 4, 5]]
    assert lm.bracket([5], 1, 2) == [1, 5, 2]


def test_the_hold_out_split_is_seeded_and_keeps_order():
    items = list(range(20))
    train, held = lm.hold_out(items, 0.25, seed=3)
    assert len(held) == 5 and sorted(train + held) == items and train == sorted(train)
    assert lm.hold_out(items, 0.25, seed=3) == (train, held)
    assert lm.hold_out(items, 0.25, seed=4) != (train, held)
    assert lm.hold_out(["a", "b"], 0.9, seed=0)[0]  # one always left to train on
    with pytest.raises(TlgenError, match="too few"):
        lm.hold_out(["a"], 0.5, seed=0)


def test_a_seeded_draw_repeats_and_leaves_torchs_rng_alone(char_lm):
    model, tokenizer = char_lm
    torch.manual_seed(11)
    expected = torch.rand(1)
    torch.manual_seed(11)
    first = lm.generate_texts(model, tokenizer, 6, max_tokens=12, prompt="ab", seed=5)
    assert torch.rand(1) == expected
    assert first == lm.generate_texts(model, tokenizer, 6, max_tokens=12, prompt="ab", seed=5)
    assert all(text.startswith("ab") and len(text) <= 11 for text in first)
    rows = lm.generate_ids(model, 6, max_tokens=12, seed=5)
    assert all(r[0] == 0 and (len(r) == 12 or (r[-1] == 0 and 0 not in r[1:-1])) for r in rows)


PLUGIN = """
from tlgen import Backbone, hookimpl

@hookimpl
def load_backbone(run, path):
    import torch
    from tests.core.test_lm import tiny_char_lm
    if run.config.seed == 1:
        return Backbone(model=torch.nn.Linear(2, 2))
    model, tokenizer = tiny_char_lm()
    return Backbone(model=model, tokenizer=tokenizer)
"""


def test_cores_default_sample_draws_for_a_backbone_with_a_tokenizer(tmp_path):
    """A domain without a ``sample`` hook gets core's for a causal LM with a tokenizer
    (seeded by ``sample.seed``, written to samples/<stage>/samples.txt), and the usual 'does
    not implement' line for any other backbone."""
    from tlgen import Run
    from tlgen.errors import PluginError

    plugin = tmp_path / "nosample.py"
    plugin.write_text(PLUGIN)
    run = Run.create(str(plugin), output_dir=tmp_path / "runs", device="cpu")
    backbone = run.load_backbone()
    texts = run.call("sample", backbone=backbone, data=None, n=3, stage="x")
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    assert texts == run.call("sample", backbone=backbone, data=None, n=3, stage="x")
    assert (run.samples_dir("x") / "samples.txt").read_text() == "\n\n".join(texts) + "\n"
    other = Run.create(str(plugin), overrides=["seed=1"], output_dir=tmp_path / "runs",
                       device="cpu")
    with pytest.raises(PluginError, match="does not implement hook 'sample'"):
        other.call("sample", backbone=other.load_backbone(), data=None, n=3, stage="x")
