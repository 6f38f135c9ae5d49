"""The training tunes: read an ABC file, keep some rhythms."""

from __future__ import annotations

from pathlib import Path

from tlgen import TlgenError

from tlgen_abc import notation

BUNDLED = Path(__file__).parent / "data" / "tunes.abc"


def load(path: str | None = None, rhythms: list[str] | None = None) -> list[str]:
    """The tunes of ``path`` (None: the bundled file), only those whose ``R:`` is in ``rhythms``."""
    source = Path(path).expanduser() if path else BUNDLED
    if not source.is_file():
        raise TlgenError(f"data.path: ABC file {source} does not exist")
    tunes = notation.split_tunes(source.read_text(encoding="utf-8"))
    if rhythms:
        wanted = {r.lower() for r in rhythms}
        tunes = [t for t in tunes if notation.parse(t).fields.get("R", "").lower() in wanted]
    if len(tunes) < 2:
        raise TlgenError(f"{source}: {len(tunes)} tune(s) (with R: in {rhythms}); need at least 2 "
                         "(each tune starts with an X: line)")
    return tunes

