"""The ABC reader: header fields, keys, meters, bar lengths; the bundled tunes are clean."""

from fractions import Fraction

import pytest
from tlgen_abc import data as tunes
from tlgen_abc import notation

TUNE = """X:7
T:Test
M:6/8
L:1/8
K:D mix
|:A|"D"dfe {g}d2c|(3ABc d d3|[DF]3 A2B|d>ed f2:|
"""


def test_header_and_body_are_split_at_k():
    tune = notation.parse(TUNE)
    assert tune.has_header and tune.fields["T"] == "Test"
    assert tune.body.startswith("|:A|")
    assert not notation.parse("X:1\nT:No meter\nK:G\nABc|").has_header


@pytest.mark.parametrize("text, want", [("G", "G"), ("Edor", "Edor"), ("E minor", "Em"),
                                        ("D mix", "Dmix"), ("F#m", "F#m"), ("H7x", None),
                                        ("", None)])
def test_keys_are_normalised(text, want):
    assert notation.key(notation.Tune({"K": text}, "")) == want


@pytest.mark.parametrize("meter, unit", [("6/8", Fraction(1, 8)), ("C", Fraction(1, 8)),
                                         ("2/4", Fraction(1, 16)), ("C|", Fraction(1, 8))])
def test_default_unit_length_follows_the_meter(meter, unit):
    tune = notation.Tune({"M": meter}, "")
    assert notation.unit(tune, notation.meter(tune)) == unit


def test_bars_count_tuplets_chords_and_broken_rhythm():
    lengths = [b.length for b in notation.bars(notation.parse(TUNE))]
    assert lengths == [1, 6, 6, 6, 5]  # the pickup and the last bar make one together
    assert notation.bar_check(notation.parse(TUNE)) == (3, 3)  # bars between two plain |


def test_a_bar_too_long_is_caught():
    bad = TUNE.replace("(3ABc d d3", "ABc d d3")
    assert notation.bar_check(notation.parse(bad)) == (2, 3)


def test_bundled_tunes_have_headers_and_bars_that_fit():
    found = tunes.load()
    assert len(found) >= 30
    for text in found:
        tune = notation.parse(text)
        full, checked = notation.bar_check(tune)
        assert tune.has_header and notation.key(tune), tune.fields.get("T")
        assert checked >= 4 and full == checked, (tune.fields["T"], full, checked)
