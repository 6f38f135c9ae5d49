"""The abc plugin's own parts: tokenizer, backbone save/load, data, metrics, report."""

from types import SimpleNamespace

import pytest
from tlgen import TlgenError
from tlgen.lm import hold_out
from tlgen_abc import backbone as model
from tlgen_abc import data as tunes
from tlgen_abc import metrics, plugin, report
from tlgen_abc.config import AbcBackbone, AbcEvaluate

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
    with pytest.raises(TlgenError, match="has no config.json"):
        model.load(SMALL, str(tmp_path))
    with pytest.raises(TlgenError, match="does not exist"):
        tunes.load(str(tmp_path / "missing.abc"))
    with pytest.raises(TlgenError, match="need at least 2"):
        tunes.load(rhythms=["tango"])


def test_rhythm_filter_and_split():
    jigs = tunes.load(rhythms=["jig"])
    assert len(jigs) >= 5 and all("R:jig" in t for t in jigs)
    train, val = hold_out(jigs, 0.2, seed=0)
    assert sorted(train + val) == sorted(jigs) and val
    assert hold_out(jigs, 0.2, seed=0) == (train, val)


def test_metrics_of_training_tunes_are_perfect_and_of_noise_are_zero():
    train = tunes.load()
    good = metrics.tune_metrics(train[:8], train)
    assert good["header_ok"] == good["bars_consistent"] == good["copy_rate"] == 1.0
    assert good["key_valid"] == 1.0 and 0 < good["key_overlap"] <= 1
    noise = metrics.tune_metrics(["X:1\nzzz", "T:x\n|ab|"], train)
    assert noise["header_ok"] == noise["bars_consistent"] == noise["copy_rate"] == 0.0


def test_evaluate_leaves_the_held_out_loss_to_tlgen():
    train = tunes.load()
    run = SimpleNamespace(config=SimpleNamespace(evaluate=AbcEvaluate()))
    got = plugin.evaluate(run, SimpleNamespace(extras={"train_tunes": train}), train[:2])
    assert got == metrics.tune_metrics(train[:2], train)
    assert not {"val_nll", "val_loss"} & set(got)


def test_report_sections_are_data_from_the_results():
    train = tunes.load()
    results = {"before": SimpleNamespace(samples=["X:1\nzzz"], metrics={}),
               "after": SimpleNamespace(samples=train[:3], metrics={})}
    keys, shown = report.sections(train, results, per_stage=2)
    assert keys["table"]["columns"] == ["key", "training", "before", "after"]
    shares = {row[0]: row[1:] for row in keys["table"]["rows"]}
    assert shares["G"][0] == round(metrics.key_distribution(train)["G"], 2)
    assert shares["G"][1] == 0.0  # "before" has no readable key
    table = shown["table"]
    assert table["columns"] == ["stage", "tune 1", "tune 2"]
    assert table["rows"][0][0] == "before" and table["rows"][0][2] is None
    cell = table["rows"][1][1]
    assert cell["heading"].startswith("header X/T/M/K ok")
    header, body = cell["lines"][:6], cell["lines"][6:]
    assert all(label == "" for label, _ in header) and header[0][1] == "X:1"
    assert [label for label, _ in body] == ["ok"] * len(body)


def test_a_line_with_a_bar_too_long_is_marked_off():
    fields = {"M": "6/8", "L": "1/8"}
    assert report.line_label(fields, "|GAG GAB|ABA ABdd|") == "off"
    assert report.line_label(fields, "|GAG GAB|ABA ABd|") == "ok"
    assert report.line_label(fields, "GAG GAB") == "·"
    assert report.line_label(fields, "K:G") == ""
