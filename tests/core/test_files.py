"""Path and data-file checks: each bad path is one TlgenError naming it."""

from __future__ import annotations

import gzip

import pytest

from tlgen import TlgenError
from tlgen.files import (
    check_data_file,
    check_export_target,
    check_name,
    read_bytes,
    read_text,
    short,
    writable_folder,
)


def test_short_cuts_a_huge_value():
    assert len(short("x" * 2_000_000)) < 100
    assert short("train.lr") == "'train.lr'"


def test_a_name_too_long_is_refused():
    with pytest.raises(TlgenError, match="longer than the 255"):
        check_name("a/" + "b" * 256, "config file")
    assert check_name("a/b", "x").name == "b"


def test_writable_folder_resolves_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert writable_folder("new/deeper", "out") == tmp_path / "new" / "deeper"
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "afile").write_text("x")
    with pytest.raises(TlgenError, match="afile is a file; give a folder"):
        writable_folder("afile", "out")
    with pytest.raises(TlgenError, match="afile is a file, not a folder"):
        writable_folder("afile/sub", "out")


def test_writable_folder_refuses_broken_links(tmp_path):
    (tmp_path / "dangling").symlink_to("nowhere/model")
    with pytest.raises(TlgenError, match="symbolic link to nowhere/model, which does not exist"):
        writable_folder(tmp_path / "dangling" / "sub", "out")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(TlgenError, match="symbolic link loop"):
        writable_folder(tmp_path / "a", "out")


def test_writable_folder_follows_a_good_link(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert writable_folder(tmp_path / "link", "out") == tmp_path / "real"


def test_export_target_inside_a_run_is_found_through_a_link(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.toml").write_text("plugin = 'x'\n")
    (tmp_path / "alias").symlink_to(run)
    with pytest.raises(TlgenError, match="inside the run folder"):
        check_export_target(tmp_path / "alias" / "exported", overwrite=False)


def test_check_data_file_says_what_is_wrong(tmp_path):
    (tmp_path / "d.smi").mkdir()
    with pytest.raises(TlgenError, match="d.smi is a folder, not a file; fix data.source"):
        check_data_file(tmp_path / "d.smi", "data file", "data.source")
    with pytest.raises(TlgenError, match="does not exist; fix data.source"):
        check_data_file(tmp_path / "none.smi", "data file", "data.source")
    (tmp_path / "plain.smi.gz").write_text("CCO\n")
    with pytest.raises(TlgenError, match="named .gz but is not gzip-compressed"):
        check_data_file(tmp_path / "plain.smi.gz", "data file", "data.source")
    good = tmp_path / "good.smi.gz"
    good.write_bytes(gzip.compress(b"CCO\n"))
    assert check_data_file(good, "data file", "data.source") == good
    assert read_text(good) == "CCO\n"


def test_a_truncated_gzip_names_the_file(tmp_path):
    blob = gzip.compress(b"".join(b"C" * (i % 37) + b"O\n" for i in range(3000)))
    cut = tmp_path / "cut.smi.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(TlgenError, match="cut.smi.gz: the gzip archive is truncated or corrupt"):
        read_text(cut)


def test_an_unreadable_file_is_one_line(tmp_path):
    with pytest.raises(TlgenError, match=r"lyrics file .* cannot be read \(Is a directory\)"):
        read_bytes(tmp_path, "lyrics file")
