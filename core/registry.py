"""Finding plugins: the ``tlgen`` entry-point group, local modules and files.

Built-in plugins register through the same entry-point group as third-party ones.
A plugin that fails to import is named in a warning and the rest keep working.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from importlib.metadata import entry_points
from types import ModuleType

import pluggy

from . import hookspecs
from .errors import TlgenError
from .files import check_name, short

GROUP = "tlgen"
DEFAULTS = "tlgen.defaults"


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus what tlgen needs: load failures and domain selection."""

    def __init__(self) -> None:
        super().__init__(GROUP)
        self.add_hookspecs(hookspecs)
        self.failures: dict[str, str] = {}
        self.sources: dict[str, str] = {}

    def load_entrypoints(self) -> None:
        for ep in entry_points(group=GROUP):
            if self.get_plugin(ep.name) is not None or ep.name in self.failures:
                continue
            try:
                module = ep.load()
                self.register(module, name=ep.name)
            except Exception as exc:  # a broken or outdated plugin must not take the CLI down
                first = str(exc).replace("\n", "; ")
                self.failures[ep.name] = f"{type(exc).__name__}: {first}"
                warnings.warn(f"tlgen plugin {ep.name!r} failed to load: {first}", stacklevel=2)
                continue
            dist = ep.dist
            self.sources[ep.name] = f"{dist.name} {dist.version}" if dist else ep.value

    def load_local(self, spec: str) -> str:
        """Register ``package.module`` or ``path/to/file.py``; return its plugin name."""
        if spec.endswith(".py") or "/" in spec:
            path = check_name(spec, "plugin file")
            if path.is_dir():
                raise TlgenError(f"plugin {short(spec)} is a folder; give its plugin file "
                                 "(file.py), package.module or an installed name")
            if not path.is_file():
                raise TlgenError(f"plugin file {short(spec)} does not exist")
            name = path.stem
            module_spec = importlib.util.spec_from_file_location(f"tlgen_local_{name}", path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_spec.name] = module
            try:
                module_spec.loader.exec_module(module)
            except Exception as exc:
                raise TlgenError(f"plugin file {spec} failed to import: {exc}") from None
            source = str(path)
        else:
            try:
                module = importlib.import_module(spec)
            except ImportError as exc:
                raise TlgenError(f"plugin module {spec} failed to import: {exc}") from None
            name, source = spec, spec
        if self.get_plugin(name) is None and not self.is_registered(module):
            self.register(module, name=name)
            self.sources[name] = source
        return self.get_name(module) or name

    def domains(self) -> list[str]:
        """Names of registered domain plugins (those that implement load_backbone)."""
        return sorted(
            self.get_name(impl.plugin)
            for impl in self.hook.load_backbone.get_hookimpls()
            if self.get_name(impl.plugin) != DEFAULTS
        )

    def resolve(self, plugin: str) -> str:
        """The registered domain name for ``plugin`` (an entry-point name, module or file)."""
        if not isinstance(plugin, str) or not plugin:
            raise TlgenError(f"config key 'plugin': expected a plugin name such as \"molecules\", "
                             f"got {short(plugin)}")
        if plugin not in self.domains() and (plugin.endswith(".py") or "." in plugin):
            plugin = self.load_local(plugin)
        if plugin not in self.domains():
            installed = ", ".join(self.domains()) or "none"
            failed = f"; failed to load: {', '.join(self.failures)}" if self.failures else ""
            raise TlgenError(f"unknown plugin {short(plugin)}; installed: {installed}{failed}")
        return plugin

    def domain_hooks(self, plugin: str) -> pluggy.HookRelay:
        """A hook relay in which the other domain plugins do not take part."""
        others = [self.get_plugin(d) for d in self.domains() if d != plugin]
        relay = pluggy.HookRelay()
        for name in self.hook.__dict__:
            if not name.startswith("_"):
                setattr(relay, name, self.subset_hook_caller(name, remove_plugins=others))
        return relay

    def describe(self) -> list[dict[str, str]]:
        """``{name, version/source, hooks}`` for each loaded plugin, for ``tlgen plugins``."""
        rows = []
        for name, plugin in sorted(self.list_name_plugin()):
            if name == DEFAULTS:
                continue
            hooks = sorted({impl.name for impl in self.get_hookcallers(plugin) or []})
            kind = "domain" if name in self.domains() else "extension"
            rows.append({"name": name, "kind": kind, "source": self.sources.get(name, "?"),
                         "hooks": ", ".join(hooks)})
        for name, error in sorted(self.failures.items()):
            rows.append({"name": name, "kind": "FAILED", "source": error, "hooks": ""})
        return rows


def plugin_manager(extra: list[ModuleType | object] = ()) -> PluginManager:
    """A manager with core's defaults, installed plugins and ``extra`` plugin objects."""
    from . import defaults

    pm = PluginManager()
    pm.register(defaults, name=DEFAULTS)
    pm.load_entrypoints()
    for plugin in extra:
        if not pm.is_registered(plugin):
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
            pm.register(plugin, name=name if pm.get_plugin(name) is None else f"{name}-{id(plugin)}")
    return pm
