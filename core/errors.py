"""The one exception type that means "the user gave bad input"."""


class TlgenError(Exception):
    """Bad input or state the user can fix; the CLI prints it as one line, no traceback."""


class PluginError(TlgenError):
    """A plugin broke the hook contract: missing hook, wrong return type, or it raised."""


class StopTraining(Exception):
    """Raised by a broadcast plugin (``on_step`` / ``on_evaluate``) to end a run now, e.g.
    a pruned sweep trial: the run keeps its folder and checkpoints, and the exception
    reaches the caller of ``Run.execute`` unchanged."""
