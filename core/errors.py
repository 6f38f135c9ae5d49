"""The one exception type that means "the user gave bad input"."""


class TlgenError(Exception):
    """Bad input or state the user can fix; the CLI prints it as one line, no traceback."""


class PluginError(TlgenError):
    """A plugin broke the hook contract: missing hook, wrong return type, or it raised."""
