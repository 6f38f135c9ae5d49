"""Checks made before any work is done, so that bad input costs nothing: a backbone that
core's defaults cannot train or export, and an export target that would clobber files."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import PluginError, TlgenError
from .types import Backbone


def base_model(model):
    """The model under a peft wrapper (the module a user's own code built)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def is_hf_model(model) -> bool:
    """A Hugging Face model: it saves with ``save_pretrained`` and loads with
    ``from_pretrained`` (transformers, diffusers)."""
    base = base_model(model)
    return hasattr(base, "save_pretrained") and hasattr(type(base), "from_pretrained")


def check_backbone(run, backbone: Backbone) -> None:
    """Before training: each default hook this run relies on can handle its backbone, else
    one line naming the hook the plugin must write."""
    model, name = backbone.model, backbone.name or type(base_model(backbone.model)).__name__
    own = run.contract.implemented_by_domain
    if not is_hf_model(model) and not own("export"):
        raise PluginError(f"plugin {run.plugin!r}: backbone {name} is not a Hugging Face model "
                          "(no save_pretrained/from_pretrained), so core cannot export it; "
                          "implement the export hook")
    if run.config.train.mode == "likelihood" and not own("loss"):
        from transformers import PreTrainedModel

        if not isinstance(base_model(model), PreTrainedModel):
            raise PluginError(f"plugin {run.plugin!r}: core's default loss calls "
                              f"model(**batch).loss (a transformers model); backbone {name} is "
                              "not one: implement the loss hook")
    if run.config.train.gradient_checkpointing \
            and not hasattr(model, "gradient_checkpointing_enable"):
        raise TlgenError(f"train.gradient_checkpointing: {name} has no "
                         "gradient_checkpointing_enable(); turn the option off")


def check_export_target(out: Path, overwrite: bool) -> Path:
    """``out`` as an export folder: not a file or under one, not a dangling link, new or
    empty (unless ``overwrite``), writable, and outside every run folder (relative paths
    resolved first). Returns it."""
    if out.is_symlink() and not out.exists():
        raise TlgenError(f"export target {out} is a link to nothing ({os.readlink(out)}); "
                         "remove it or give another folder")
    try:
        resolved = out.resolve()
    except (OSError, RuntimeError) as exc:  # a link loop, a name too long
        raise TlgenError(f"export target {out}: {exc.strerror if isinstance(exc, OSError) else exc}"
                         ) from None
    if out.exists() and not out.is_dir():
        raise TlgenError(f"export target {out} is a file; give a folder")
    for parent in (resolved, *resolved.parents):
        if parent.is_file():
            raise TlgenError(f"export target {out}: {parent} is a file, not a folder")
        if (parent / "config.toml").is_file() and (parent / "checkpoints").exists():
            raise TlgenError(f"export target {out} is inside the run folder {parent}; "
                             "export to a folder of its own")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise TlgenError(f"export target {out} is not empty; pass --overwrite to replace "
                         "what is there, or give a new folder")
    existing = next(p for p in (resolved, *resolved.parents) if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TlgenError(f"export target {out}: {existing} is not writable")
    return out
