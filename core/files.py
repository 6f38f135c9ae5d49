"""Checks on the paths a user names, made before anything is read or written, so that a bad
path is one line naming it and what is wrong (a folder given as a file, a ``.gz`` that is
not gzip, a read-only folder, a name too long for the file system, a dangling symbolic
link), never an ``OSError`` traceback or a half-written folder."""

from __future__ import annotations

import gzip
import os
import reprlib
import zlib
from pathlib import Path

from .errors import TlgenError

GZIP_MAGIC = b"\x1f\x8b"
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80


def short(value: object) -> str:
    """``repr(value)`` cut to about 80 characters: a 2 MB value in a message is no help."""
    return _SHORT.repr(value)


def check_name(path: str | Path, what: str) -> Path:
    """``path`` as a Path, refused when a component or the whole is too long for the file
    system (which would raise ENAMETOOLONG wherever it is first touched)."""
    path = Path(path).expanduser()
    limit = 255
    for part in path.parts:
        if len(os.fsencode(part)) > limit:
            raise TlgenError(f"{what}: the name {short(part)} is {len(os.fsencode(part))} "
                             f"bytes, longer than the {limit} a file name may have; use a "
                             "shorter name")
    if len(os.fsencode(str(path.absolute()))) >= 4096:
        raise TlgenError(f"{what} {short(str(path))}: the path is longer than 4,096 bytes; "
                         "use a shorter one")
    return path


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (lexically; ``path`` is absolute)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor)


def _follow(path: Path, what: str) -> Path:
    """``path`` made absolute with its symbolic links resolved; a dangling link or a loop
    is refused (creating a folder there would fail with FileExistsError)."""
    path = check_name(path, what)
    for candidate in (path, *path.parents):
        if candidate.is_symlink() and not candidate.exists():
            try:
                target = os.readlink(candidate)
                candidate.resolve(strict=True)
            except RuntimeError:
                raise TlgenError(f"{what} {path}: {candidate} is a symbolic link loop; "
                                 "remove it or give another path") from None
            except OSError as exc:
                if "loop" in str(exc).lower() or getattr(exc, "errno", None) == 40:
                    raise TlgenError(f"{what} {path}: {candidate} is a symbolic link loop; "
                                     "remove it or give another path") from None
                raise TlgenError(f"{what} {path}: {candidate} is a symbolic link to {target}, "
                                 "which does not exist; create it or give another path") from None
    return path.resolve()


def writable_folder(path: str | Path, what: str) -> Path:
    """The resolved folder ``path`` if it exists as a writable folder or can be created:
    refused when it (or a parent) is a file, a dangling link, or lies under a folder this
    user cannot write. Creates nothing."""
    resolved = _follow(Path(path), what)
    if resolved.exists() and not resolved.is_dir():
        raise TlgenError(f"{what} {path} is a file; give a folder")
    for parent in resolved.parents:
        if parent.exists() and not parent.is_dir():
            raise TlgenError(f"{what} {path}: {parent} is a file, not a folder")
    existing = _nearest_existing(resolved)
    if not _can_write(existing):
        where = "" if existing == resolved else f" ({existing} is where it would be created)"
        raise TlgenError(f"{what} {path}: the folder {existing} is read-only for this user"
                         f"{where}; give a folder you can write to")
    return resolved


def check_writable_tree(folder: Path, what: str, inside: tuple[str, ...] = ()) -> None:
    """``folder`` and the named sub-folders that exist must be writable by this user: a
    command that adds files there checks before it loads or computes anything."""
    for path in (folder, *(folder / name for name in inside)):
        if path.exists() and not _can_write(path):
            where = f"{what} {folder}" + (f": {path}" if path != folder else "")
            raise TlgenError(f"{where} is read-only for this user; this command writes its "
                             "results there (make it writable, or copy the run)")


def check_data_file(path: str | Path, what: str, key: str) -> Path:
    """An input file that can be read: exists, is a file (not a folder), readable, and if
    its name ends in ``.gz``, gzip-compressed. ``key`` is the config key to fix."""
    path = check_name(path, f"{what} ({key})")
    if path.is_dir():
        raise TlgenError(f"{what} {path} is a folder, not a file; fix {key}")
    if not path.is_file():
        raise TlgenError(f"{what} {path} does not exist; fix {key}")
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
    except OSError as exc:
        raise TlgenError(f"{what} {path} cannot be read ({exc.strerror}); fix {key} or the "
                         "file's permissions") from None
    if path.suffix.lower() == ".gz" and head != GZIP_MAGIC:
        raise TlgenError(f"{what} {path} is named .gz but is not gzip-compressed; compress it "
                         f"(gzip) or drop the .gz from its name")
    return path


def read_text(path: Path, what: str = "data file") -> str:
    """The text of ``path`` (gunzipped when it ends in ``.gz``; bad bytes replaced)."""
    return read_data(path, what).decode("utf-8", errors="replace")


def read_data(path: Path, what: str = "data file") -> bytes:
    """The bytes of ``path``, gunzipped when it ends in ``.gz``: a truncated or corrupt
    archive is one line naming the file, not an error deep inside a parser."""
    try:
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise TlgenError(f"{what} {path}: the gzip archive is truncated or corrupt "
                         f"({exc}); re-create it") from None
    except OSError as exc:
        raise TlgenError(f"{what} {path} cannot be read ({exc.strerror or exc})") from None


def check_export_target(out_dir: str | Path, overwrite: bool) -> Path:
    """The resolved export folder: new or empty (or ``overwrite``), writable, and outside
    every run folder (relative paths and symbolic links resolved first)."""
    out = writable_folder(out_dir, "export target")
    for parent in (out, *out.parents):
        if (parent / "config.toml").is_file() and (parent / "checkpoints").exists():
            raise TlgenError(f"export target {out_dir} is inside the run folder {parent}; "
                             "export to a folder of its own")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise TlgenError(f"export target {out_dir} is not empty; pass --overwrite to replace "
                         "what is there, or give a new folder")
    return out


def _can_write(folder: Path) -> bool:
    """Whether this process may add entries to ``folder`` (by its effective user)."""
    effective = os.access in os.supports_effective_ids
    return os.access(folder, os.W_OK | os.X_OK, effective_ids=effective)


def run_folder(path: str | Path, what: str = "run folder") -> Path:
    """A path given as a run folder: a short enough name, and not a file."""
    path = check_name(path, what)
    if path.is_file():
        raise TlgenError(f"{what} {path} is a file; give a run folder (runs/<time>-<plugin>)")
    return path


def read_bytes(path: Path, what: str) -> bytes:
    """The bytes of ``path``; an unreadable file (permissions, a folder) is one line."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlgenError(f"{what} {path} cannot be read ({exc.strerror or exc})") from None
