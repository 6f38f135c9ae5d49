"""Reading an artist's lyrics: a file of songs or a folder of song files, split for validation.

A file holds many songs. When it contains a run of two or more blank lines, those
runs separate songs (single blank lines are stanza breaks); otherwise every blank
line separates songs. In a folder each file is one song. Section tags such as
``[Verse 1]`` or ``[Chorus]`` on their own line are kept as part of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from tlgen import TlgenError
from tlgen.files import check_data_file, read_bytes

SONG_BREAK = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
STANZA_BREAK = re.compile(r"\n[ \t]*\n")
TAG = re.compile(r"^\s*\[[^\]]+\]\s*$")
DEFAULT_ARTIST = "shakespeare_sonnets.txt"


@dataclass
class Songs:
    """An artist's songs, split into training and held-out songs."""

    train: list[str]
    validation: list[str]


def default_path() -> Path:
    """The shipped example artist: Shakespeare's 154 sonnets."""
    return Path(str(files("tlgen.plugins.lyrics") / "data" / DEFAULT_ARTIST))


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path``, line ends normalised; binary or other encodings are errors."""
    raw = read_bytes(path, "lyrics file")
    if b"\x00" in raw:
        raise TlgenError(f"{path}: looks like a binary file, not lyrics; give a UTF-8 text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TlgenError(f"{path}, line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                         "re-save the file as UTF-8") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n"))


def split_songs(text: str) -> list[str]:
    """The songs of one file (see the module docstring for the separator rule)."""
    text = text.strip("\n")
    breaker = SONG_BREAK if SONG_BREAK.search(text) else STANZA_BREAK
    return [song.strip("\n") for song in breaker.split(text) if song.strip()]


def read_songs(path: Path) -> list[str]:
    """All songs under ``path`` (a file of songs or a folder with one song per file)."""
    if not path.is_dir():
        check_data_file(path, "lyrics file or folder", "data.path")
    if path.is_file():
        songs = split_songs(read_text(path))
    else:
        found = sorted(p for p in path.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not found:
            raise TlgenError(
                f"data.path {path}: the folder is empty; put one song per text file in it")
        songs = [song for p in found if (song := read_text(p).strip("\n").strip())]
    if not songs:
        raise TlgenError(f"data.path {path}: no lyrics found (only blank text)")
    return songs


def hold_out(songs: list[str], fraction: float, seed: int, source: Path) -> Songs:
    """``fraction`` of the songs (at least one) held out for validation, drawn by ``seed``."""
    from tlgen.lm import hold_out as split

    if len(songs) < 2:
        raise TlgenError(
            f"data.path {source}: found a single song, too few to hold one out for validation; "
            "give at least 2 songs (separated by a blank line, or one file per song)")
    train, validation = split(songs, fraction, seed)
    return Songs(train=train, validation=validation)


def load_songs(path: str | None, fraction: float, seed: int) -> Songs:
    """The configured artist (``None``: the shipped sonnets), split for validation."""
    source = Path(path).expanduser() if path else default_path()
    return hold_out(read_songs(source), fraction, seed, source)


def song_sequences(songs: list[str], tokenizer, block_size: int) -> tuple[list[list[int]], int]:
    """One token sequence per song, ``EOS song EOS`` (the leading EOS opens a song as at
    sampling time, the trailing one ends it), and how many songs ``block_size`` truncated
    (a truncated song keeps its first ``block_size`` tokens and has no closing EOS)."""
    from tlgen.lm import encode_texts

    eos = tokenizer.eos_token_id
    full = encode_texts(tokenizer, songs, bos=eos)
    return [seq[:block_size] for seq in full], sum(len(seq) > block_size for seq in full)
