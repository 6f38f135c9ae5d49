"""A small ABC notation reader: header fields, keys, meters and bar lengths.

It reads what folk tunes use (notes, rests, chords, tuplets, bar lines, repeats,
endings) and skips the rest (chord symbols, grace notes, decorations), so that a
generated tune can be checked: does its header have X/T/M/K, and do its bars add up
to the meter?
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

REQUIRED_FIELDS = ("X", "T", "M", "K")
FIELD_LINE = re.compile(r"^([A-Za-z]):(.*)$")
KEY = re.compile(r"([A-G][#b]?)\s*([A-Za-z]*)")
MODES = {"": "", "maj": "", "ion": "", "m": "m", "min": "m", "aeo": "m", "mix": "mix",
         "dor": "dor", "phr": "phr", "lyd": "lyd", "loc": "loc"}
TOKEN = re.compile(
    r"""(?P<field>\[[A-Za-z]:[^\]\n]*\])
    |(?P<bar>:*\[?\|[|\]:]*\d*|:+\[?\d?|\[\d)
    |(?P<tuplet>\((?P<p>[2-9])(?::\d*)*)
    |(?P<chord>\[(?P<inner>[^\]\n]*)\](?P<clen>\d*/*\d*))
    |(?P<note>(?:\^{1,2}|_{1,2}|=)?[A-Ga-gzx][,']*(?P<len>\d*/*\d*))
    |(?P<skip>"[^"\n]*"|\{[^}\n]*\}|![^!\n]*!|\+[^+\n]*\+|%[^\n]*)""",
    re.VERBOSE,
)
TUPLET_TIME = {2: Fraction(3, 2), 3: Fraction(2, 3), 4: Fraction(3, 4), 6: Fraction(2, 3)}


@dataclass
class Tune:
    """A tune split into its header fields (first value of each) and its body."""

    fields: dict[str, str]
    body: str

    @property
    def has_header(self) -> bool:
        """True when X, T, M and K are all in the header."""
        return all(self.fields.get(f, "").strip() for f in REQUIRED_FIELDS)


@dataclass
class Bar:
    """One bar: its length in unit notes and whether both its bar lines are a plain ``|``."""

    length: Fraction
    plain: bool


def split_tunes(text: str) -> list[str]:
    """Cut a file of tunes into one text per tune (each starts with an ``X:`` line)."""
    starts = [m.start() for m in re.finditer(r"^X:", text, re.MULTILINE)]
    ends = [*starts[1:], len(text)]
    return [text[a:b].strip() for a, b in zip(starts, ends) if text[a:b].strip()]


def parse(text: str) -> Tune:
    """The header (field lines up to and including ``K:``) and the body after it."""
    lines = text.strip("\n").splitlines()
    fields: dict[str, str] = {}
    for i, line in enumerate(lines):
        match = FIELD_LINE.match(line.strip())
        if not match:
            return Tune(fields, "\n".join(lines[i:]))
        fields.setdefault(match.group(1), match.group(2).strip())
        if match.group(1) == "K":
            return Tune(fields, "\n".join(lines[i + 1 :]))
    return Tune(fields, "")


def key(tune: Tune) -> str | None:
    """The key as tonic + mode (``G``, ``Em``, ``Ador``, ``Dmix``), or None if unreadable."""
    match = KEY.fullmatch(tune.fields.get("K", "").strip())
    if not match:
        return None
    mode = match.group(2).lower()
    mode = mode if mode in ("", "m") else mode[:3]  # modes may be written in full: Dmixolydian
    return match.group(1) + MODES[mode] if mode in MODES else None


def meter(tune: Tune) -> Fraction | None:
    """The bar length as a fraction of a whole note (``C`` is 4/4, ``C|`` is 2/2)."""
    text = tune.fields.get("M", "").strip()
    if text in ("C", "C|"):
        return Fraction(1) if text == "C" else Fraction(2, 2)
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or int(match.group(2)) == 0 or int(match.group(1)) == 0:
        return None
    return Fraction(int(match.group(1)), int(match.group(2)))


def unit(tune: Tune, bar: Fraction) -> Fraction:
    """The unit note length: ``L:``, else 1/16 under meters below 3/4 and 1/8 otherwise."""
    match = re.fullmatch(r"1/(\d+)", tune.fields.get("L", "").strip())
    if match and int(match.group(1)) > 0:
        return Fraction(1, int(match.group(1)))
    return Fraction(1, 16) if bar < Fraction(3, 4) else Fraction(1, 8)


def duration(text: str) -> Fraction:
    """A length suffix in unit notes: ``2``, ``/``, ``//``, ``3/2``, ``/4``."""
    num, slashes, den = re.fullmatch(r"(\d*)(/*)(\d*)", text).groups()
    value = Fraction(int(num) if num else 1)
    if den:
        return value / int(den)
    return value / 2 ** len(slashes)


def bars(tune: Tune) -> list[Bar]:
    """The bars of the body with their lengths in unit notes (field lines skipped)."""
    found: list[Bar] = []
    length, left, tuplet = Fraction(0), "", (0, Fraction(1))
    body = "\n".join(line for line in tune.body.splitlines() if not FIELD_LINE.match(line.strip()))
    pos = 0
    while pos < len(body):
        match = TOKEN.match(body, pos)
        if not match:
            pos += 1
            continue
        pos, kind = match.end(), match.lastgroup
        if kind == "bar":
            if length:
                found.append(Bar(length, left == "|" and match.group("bar") == "|"))
            length, left = Fraction(0), match.group("bar")
        elif kind == "tuplet":
            p = int(match.group("p"))
            tuplet = (p, TUPLET_TIME.get(p, Fraction(p - 1, p)))
        elif kind in ("chord", "note"):
            value = _chord_length(match) if kind == "chord" else duration(match.group("len"))
            if tuplet[0]:
                value, tuplet = value * tuplet[1], (tuplet[0] - 1, tuplet[1])
            length += value
    if length:
        found.append(Bar(length, False))
    return found


def _chord_length(match: re.Match) -> Fraction:
    """A chord lasts as long as its first note, times the length written after ``]``."""
    first = re.search(r"[A-Ga-gzx][,']*(\d*/*\d*)", match.group("inner"))
    return (duration(first.group(1)) if first else Fraction(0)) * duration(match.group("clen"))


def bar_check(tune: Tune) -> tuple[int, int]:
    """(full, checked): among bars between two plain bar lines, how many fit the meter."""
    bar = meter(tune)
    if bar is None:
        return 0, 0
    expected = bar / unit(tune, bar)
    checked = [b for b in bars(tune) if b.plain]
    return sum(b.length == expected for b in checked), len(checked)


def notes(tune: Tune) -> list[str]:
    """The note and rest tokens of the body, as written (for n-gram diversity)."""
    return [m.group("note") for m in TOKEN.finditer(tune.body) if m.group("note")]
