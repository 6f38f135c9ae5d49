import pytest

from tlgen import TlgenError
from tlgen.config import apply_override, read_toml


def test_unknown_key_names_the_closest_valid_one(make_run):
    with pytest.raises(TlgenError, match=r"unknown key 'train.lrr' \(did you mean 'train.lr'\?\)"):
        make_run("train.lrr=0.1")


def test_wrong_type_names_the_key_and_value(make_run):
    with pytest.raises(TlgenError, match=r"key 'train.max_steps'.*'many'"):
        make_run("train.max_steps=many")


def test_domain_section_keys_are_validated_too(make_run):
    with pytest.raises(TlgenError, match=r"unknown key 'data.max_lenn'.*'data.max_len'"):
        make_run("data.max_lenn=3")


def test_missing_config_file(tmp_path):
    with pytest.raises(TlgenError, match="does not exist"):
        read_toml(tmp_path / "nope.toml")


def test_invalid_toml_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nlr = 1")
    with pytest.raises(TlgenError, match="bad.toml: not valid TOML"):
        read_toml(bad)


def test_override_parses_toml_values_and_falls_back_to_text():
    raw = {}
    apply_override(raw, "train.lr=1e-4")
    apply_override(raw, "freeze.strategy=freeze-first:2")
    apply_override(raw, "train.trackers=['tensorboard']")
    assert raw == {"train": {"lr": 1e-4, "trackers": ["tensorboard"]},
                   "freeze": {"strategy": "freeze-first:2"}}


def test_override_without_equals_is_an_error():
    with pytest.raises(TlgenError, match="KEY=VALUE"):
        apply_override({}, "train.lr")


def test_config_file_then_overrides_then_flags(tmp_path, make_run):
    path = tmp_path / "run.toml"
    path.write_text('plugin = "ignored-by-argument"\n[train]\nmax_steps = 7\nlr = 0.5\n')
    run = make_run("train.lr=0.25", config_file=path)
    assert (run.config.train.max_steps, run.config.train.lr) == (7, 0.25)
    assert run.config.train.batch_size == 8  # the plugin's default_train_config


@pytest.mark.parametrize("strategy", ["half", "freeze-first", "freeze-first:x"])
def test_bad_freeze_strategy_is_refused_with_the_config(strategy, make_run, tmp_path):
    """Validated with the rest of the config: no run folder, no model loaded."""
    with pytest.raises(TlgenError, match=r"key 'freeze.strategy'.*(unknown strategy|freeze-first:N)"):
        make_run(f"freeze.strategy='{strategy}'")
    assert not (tmp_path / "runs").exists()
