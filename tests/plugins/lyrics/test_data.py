from pathlib import Path

import pytest
from tlgen import TlgenError
from tlgen.plugins.lyrics.data import (hold_out, load_songs, read_songs, song_sequences,
                                       split_songs)

TAGGED = """[Verse 1]
I walked along the river
The water running cold

[Chorus]
Oh river, river


[Verse 1]
A second song begins
"""


def test_single_blank_lines_separate_songs():
    assert split_songs("a b\nc d\n\ne f\n\n\n") == ["a b\nc d", "e f"]


def test_double_blank_lines_separate_songs_and_single_ones_are_stanzas():
    songs = split_songs(TAGGED)
    assert len(songs) == 2
    assert songs[0].startswith("[Verse 1]") and "\n\n[Chorus]" in songs[0]


def test_the_shipped_sonnets_split_into_154_songs_with_15_held_out():
    songs = load_songs(None, 0.1, seed=0)
    assert (len(songs.train), len(songs.validation)) == (139, 15)
    assert load_songs(None, 0.1, seed=0) == songs
    assert songs.train[0].startswith("FROM fairest creatures")


def test_a_folder_holds_one_song_per_file(tmp_path):
    (tmp_path / "b.txt").write_text("second song\n\nits second stanza\n")
    (tmp_path / "a.txt").write_text("\ufefffirst song\r\nline two\r\n")
    (tmp_path / ".hidden").write_text("not a song")
    assert read_songs(tmp_path) == ["first song\nline two", "second song\n\nits second stanza"]


@pytest.mark.parametrize("content, message", [
    (b"\x00\x01\x02PK", "binary"),
    (b"good line\nbad \xff byte\n", "line 2: not UTF-8"),
    (b"\n\n  \n", "no lyrics"),
])
def test_unreadable_files_are_named(tmp_path, content, message):
    path = tmp_path / "songs.txt"
    path.write_bytes(content)
    with pytest.raises(TlgenError, match=message):
        read_songs(path)


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(TlgenError, match="does not exist"):
        read_songs(tmp_path / "nope")
    with pytest.raises(TlgenError, match="folder is empty"):
        read_songs(tmp_path)


def test_a_single_song_cannot_be_split(tmp_path):
    path = tmp_path / "one.txt"
    path.write_text("only one song\nwith two lines\n")
    with pytest.raises(TlgenError, match="single song"):
        load_songs(str(path), 0.1, seed=0)


def test_hold_out_keeps_at_least_one_song_on_each_side():
    songs = hold_out(["a", "b"], 0.9, seed=1, source=Path("x"))
    assert len(songs.train) == len(songs.validation) == 1


def test_one_song_per_sequence_with_eos_at_its_ends_and_truncation_counted(tiny_backbone):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_backbone)
    eos = tokenizer.eos_token_id
    songs = ["one little song", "another little song that is rather longer", "a third"]
    sequences, cut = song_sequences(songs, tokenizer, block_size=10)
    assert len(sequences) == 3  # no song shares a sequence (nor attention) with another
    for song, seq in zip(songs, sequences):
        assert seq[0] == eos and eos not in seq[1:-1] and len(seq) <= 10
        full = tokenizer(song, add_special_tokens=False)["input_ids"]
        assert seq[1:] == ([*full, eos] if len(full) + 2 <= 10 else full[:9])
    assert cut == sum(len(tokenizer(s)["input_ids"]) + 2 > 10 for s in songs) >= 1
