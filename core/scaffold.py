"""``tlgen new-plugin NAME``: write a plugin package skeleton that passes the conformance kit.

The skeleton is the files under ``templates/plugin/``: ``*.tmpl`` files are filled with
``string.Template`` (``$name``, ``$package``, ``$distribution``, ``$tlgen_version``),
other files are copied as they are, and the folder ``package`` becomes ``tlgen_<name>``.
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path
from string import Template

from . import __version__
from .errors import TlgenError
from .files import short, writable_folder
from .registry import GROUP

TEMPLATES = Path(__file__).parent / "templates" / "plugin"
NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def check_name(name: str) -> None:
    """Raise a TlgenError unless ``name`` is a lower-case Python identifier that no installed
    plugin uses."""
    if not NAME.fullmatch(name):
        raise TlgenError(f"plugin name {short(name)}: use a lower-case Python identifier of at "
                         "most 64 characters (letters, digits, _; starting with a letter), e.g. "
                         "music or abc_tunes")
    if any(ep.name == name for ep in entry_points(group=GROUP)):
        raise TlgenError(f"plugin name {name!r} is taken by an installed plugin; choose another")


def new_plugin(name: str, dest: Path) -> Path:
    """Write the skeleton package ``dest/tlgen-<name>/`` and return that folder."""
    check_name(name)
    root = writable_folder(dest, "--dest") / f"tlgen-{name}"
    if root.exists():
        raise TlgenError(f"{root} already exists; remove it or choose another NAME or --dest")
    values = {"name": name, "package": f"tlgen_{name}", "distribution": f"tlgen-{name}",
              "tlgen_version": __version__}
    for source in sorted(p for p in TEMPLATES.rglob("*") if p.is_file()):
        parts = [values["package"] if part == "package" else part
                 for part in source.relative_to(TEMPLATES).parts]
        target = root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix == ".tmpl":
            text = Template(source.read_text(encoding="utf-8")).substitute(values)
            target.with_suffix("").write_text(text, encoding="utf-8")
        else:
            target.write_bytes(source.read_bytes())
    return root
