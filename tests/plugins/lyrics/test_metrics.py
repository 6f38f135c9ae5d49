import math

import pytest
from tlgen.plugins.lyrics import metrics as m

QUATRAIN = """The sun goes down behind the hill,
The birds fly home across the sky,
The evening air is calm and still,
The stars come out, the moon is high."""

SONNET_18_Q2 = """Sometime too hot the eye of heaven shines,
And often is his gold complexion dimm'd;
And every fair from fair sometime declines,
By chance or nature's changing course untrimm'd;"""


@pytest.mark.parametrize("text, scheme", [
    (QUATRAIN, "ABAB"),
    (SONNET_18_Q2, "ABAB"),
    ("I saw a cat\nit wore a hat\nit ran away\nand would not stay", "AABB"),
    ("Roses are red\nViolets are blue\nSugar is sweet\nAnd so are you", "ABCB"),
])
def test_rhyme_scheme_of_known_quatrains(text, scheme):
    assert m.scheme(text.split("\n")) == scheme


def test_stanzas_break_at_blank_lines_and_tags():
    song = "[Verse]\nI saw a cat\nit wore a hat\n\n[Chorus]\nla la day\nla la may"
    assert m.stanzas(song) == [["I saw a cat", "it wore a hat"], ["la la day", "la la may"]]
    assert m.song_scheme(song) == "AA AA"


def test_rhyme_density_ignores_a_word_rhymed_with_itself():
    assert m.rhyme_density(QUATRAIN) == 1.0
    assert m.rhyme_density("I love you\nI love you\nthe end") == 0.0


def test_scheme_f1():
    assert m.scheme_f1("ABAB", "ABAB") == 1.0
    assert m.scheme_f1("ABCD", "ABAB") == 0.0
    assert m.scheme_f1("ABABCC", "ABAB") == 1.0  # pairs past the reference are not judged


def test_most_common_scheme_of_the_sonnets_is_shakespearean():
    from tlgen.plugins.lyrics.data import load_songs

    assert m.most_common_scheme(load_songs(None, 0.1, 0).train) == "ABABCDCDEFEFGG"


def test_syllables_and_distributions():
    assert m.syllables("The sun goes down behind the hill,") == 8
    assert m.syllables("Feed'st thy light'st flame") == 4
    assert m.wasserstein([10, 10], [10, 10]) == 0.0
    assert m.wasserstein([8], [10]) == pytest.approx(2.0)
    assert math.isnan(m.wasserstein([], [1]))


def test_distinct_n():
    assert m.distinct(["a b a b"], 1) == 0.5
    assert m.distinct(["a b a b"], 2) == pytest.approx(2 / 3)


def test_copy_index_finds_the_longest_copied_run():
    copies = m.CopyIndex(["one two three four five six seven eight nine", "ten eleven"], n=3)
    assert copies.longest("zero two three four five zero") == 4
    assert copies.longest("nine ten eleven") == 2  # songs do not run into each other
    assert copies.copied_share(["one two three zero"]) == 0.5


def test_song_metrics_of_real_sonnets_against_the_artist():
    from tlgen.plugins.lyrics.data import load_songs

    songs = load_songs(None, 0.1, 0)
    got = m.song_metrics(songs.validation, songs.train, m.CopyIndex(songs.train))
    assert got["rhyme_density"] > 0.7 and got["scheme_f1"] > 0.7
    assert 9.5 < got["syllables_per_line"] < 11
    assert got["lines_per_song"] == pytest.approx(14, abs=0.2)
    assert got["usual_line_count_share"] == pytest.approx(14 / 15)  # sonnet 99 has 15 lines
    assert got["copied_8gram_share"] < 0.05 and got["longest_copy"] < 8


def test_usual_line_count_share_counts_songs_of_the_artists_most_common_length():
    artist = ["a\nb", "c\nd", "e\nf\ng"]
    got = m.song_metrics(["x\ny", "x\ny\nz", "x\n\ny"], artist, m.CopyIndex(artist))
    assert got["usual_line_count_share"] == pytest.approx(2 / 3)
    assert m.line_counts(["[Verse]\na\n\nb\nc"]) == [3]
