"""Checks made before training, so that a plugin's gap costs nothing: a backbone that core's
defaults cannot train or export is refused with the hook the plugin must write."""

from __future__ import annotations

from .errors import PluginError, TlgenError
from .freeze import base_model
from .types import Backbone


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
