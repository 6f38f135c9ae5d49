"""The abc plugin's own parts: tokenizer, backbone save/load, data, metrics."""

import pytest
from tlgen import TlgenError

from tlgen_abc import metrics, model, tunes
from tlgen_abc.config import AbcBackbone

SMALL = AbcBackbone(n_layer=1, n_embd=16, n_head=2)


def test_tokenizer_round_trips_every_character():
    tok = model.new_tokenizer()
    text = tunes.load()[0]
    ids = tok.encode(text, add_special_tokens=False)
    assert len(ids) == len(text) and tok.decode(ids) == text


def test_backbone_saves_and_reloads_with_from_pretrained(tmp_path):
    made = model.load(SMALL, None)
    made.model.save_pretrained(tmp_path)
    made.tokenizer.save_pretrained(tmp_path)
    loaded = model.load(SMALL, str(tmp_path))
    assert loaded.tokenizer.get_vocab() == made.tokenizer.get_vocab()
    weight = "transformer.wte.weight"
    assert (loaded.model.state_dict()[weight] == made.model.state_dict()[weight]).all()
    scratch = model.load(AbcBackbone(path=str(tmp_path), from_scratch=True), None)
    assert not (scratch.model.state_dict()[weight] == made.model.state_dict()[weight]).all()


def test_bad_backbone_folder_and_data_path_are_user_errors(tmp_path):
    with pytest.raises(TlgenError, match="not a saved abc backbone"):
        model.load(SMALL, str(tmp_path))
    with pytest.raises(TlgenError, match="does not exist"):
        tunes.load(str(tmp_path / "missing.abc"))
    with pytest.raises(TlgenError, match="need at least 2"):
        tunes.load(rhythms=["tango"])


def test_rhythm_filter_and_split():
    jigs = tunes.load(rhythms=["jig"])
    assert len(jigs) >= 5 and all("R:jig" in t for t in jigs)
    train, val = tunes.split(jigs, 0.2, seed=0)
    assert sorted(train + val) == sorted(jigs) and val
    assert tunes.split(jigs, 0.2, seed=0) == (train, val)


def test_metrics_of_training_tunes_are_perfect_and_of_noise_are_zero():
    train = tunes.load()
    good = metrics.tune_metrics(train[:8], train)
    assert good["header_ok"] == good["bars_consistent"] == good["copy_rate"] == 1.0
    assert good["key_valid"] == 1.0 and 0 < good["key_overlap"] <= 1
    noise = metrics.tune_metrics(["X:1\nzzz", "T:x\n|ab|"], train)
    assert noise["header_ok"] == noise["bars_consistent"] == noise["copy_rate"] == 0.0
