"""A run: one domain plugin taken through its hooks into a run folder.

``Run.create(...)`` starts a new run from a plugin's defaults, a TOML file and
overrides; ``Run.open(run_dir)`` reopens one (to resume, sample, evaluate or
export). The CLI is a thin layer over this class; domain scripts use it directly::

    from tlgen import Run
    run = Run.create("molecules", overrides=["train.max_steps=100"])
    summary = run.execute()          # before -> train -> after -> report
    print(summary["metrics"]["after"])
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

from . import config as cfg
from .errors import PluginError, TlgenError
from .registry import PluginManager, plugin_manager
from .types import Backbone, DataSplits, LayerMap

# What each hook must return (None: anything); checked on every call through Run.call.
EXPECTED: dict[str, tuple[type, ...] | None] = {
    "load_backbone": (Backbone,), "prepare_data": (DataSplits,), "layer_map": (LayerMap,),
    "freeze": (Backbone,), "train": (dict,), "sample": (list,), "evaluate": (dict,),
    "report": (list,), "export": (str, Path), "on_run_end": None,
}


class Run:
    """The state of one run: its validated config, folder, plugins and accelerator."""

    def __init__(self, config: cfg.RunConfig, pm: PluginManager, plugin: str, directory: Path):
        self.config = config
        self.pm = pm
        self.plugin = plugin
        self.dir = directory
        self.hooks = pm.domain_hooks(plugin)
        self._accelerator = None

    # ---------------------------------------------------------------- construction
    @classmethod
    def create(
        cls,
        plugin: str | None = None,
        config_file: str | Path | None = None,
        overrides: Sequence[str] = (),
        output_dir: str | Path | None = None,
        device: str | None = None,
        name: str | None = None,
        extra_plugins: Sequence[object] = (),
    ) -> Run:
        """A new run of ``plugin`` (entry-point name, ``package.module`` or ``file.py``)."""
        raw = cfg.read_toml(config_file) if config_file else {}
        plugin = plugin or raw.get("plugin")
        if not plugin:
            raise TlgenError("no plugin given: pass --plugin NAME or set plugin = \"NAME\" in the config")
        raw["plugin"] = plugin
        if output_dir is not None:
            raw["output_dir"] = str(output_dir)
        if name is not None:
            raw["name"] = name
        if device is not None:
            raw.setdefault("train", {})["device"] = device
        for assignment in overrides:
            cfg.apply_override(raw, assignment)
        pm = plugin_manager(extra_plugins)
        domain = pm.resolve(plugin)
        hooks = pm.domain_hooks(domain)
        raw = cfg.merge(hooks.default_train_config() or {}, raw)
        config = cfg.validate(raw, cfg.schema_for(hooks.config_schema()),
                              source=str(config_file) if config_file else "config")
        run = cls(config, pm, domain, Path())
        run.dir = run._new_dir(config.name or domain)
        run._point_accelerator_at_dir()
        return run

    @classmethod
    def open(cls, run_dir: str | Path, extra_plugins: Sequence[object] = (),
             overrides: Sequence[str] = ()) -> Run:
        """Reopen an existing run folder with its saved config."""
        directory = Path(run_dir)
        if not directory.is_dir():
            raise TlgenError(f"run folder {directory} does not exist")
        saved = directory / "config.toml"
        if not saved.is_file():
            raise TlgenError(f"{directory} is not a tlgen run (no config.toml in it)")
        raw = cfg.read_toml(saved)
        for assignment in overrides:
            cfg.apply_override(raw, assignment)
        pm = plugin_manager(extra_plugins)
        domain = pm.resolve(raw.get("plugin", ""))
        hooks = pm.domain_hooks(domain)
        config = cfg.validate(raw, cfg.schema_for(hooks.config_schema()), source=str(saved))
        return cls(config, pm, domain, directory)

    def _new_dir(self, label: str) -> Path:
        """``<output_dir>/<time>-<label>``, the same in every process of a distributed run."""
        from accelerate.utils import broadcast_object_list

        stamp = [time.strftime("%Y%m%d-%H%M%S")]
        if self.accelerator.num_processes > 1:
            broadcast_object_list(stamp)
        base = Path(self.config.output_dir) / f"{stamp[0]}-{Path(label).stem}"
        directory, i = base, 1
        while (directory / "config.toml").exists():
            i += 1
            directory = base.with_name(f"{base.name}-{i}")
        return directory

    # ---------------------------------------------------------------- runtime
    @property
    def accelerator(self):
        """The Accelerate object (created on first use: device, precision, trackers)."""
        if self._accelerator is None:
            self._accelerator = _make_accelerator(self.config.train)
            self._point_accelerator_at_dir()
        return self._accelerator

    def _point_accelerator_at_dir(self) -> None:
        project = self._accelerator.project_configuration
        project.project_dir, project.logging_dir = str(self.dir), str(self.dir / "logs")

    @property
    def device(self):
        return self.accelerator.device

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def log(self, message: str) -> None:
        """Print a line on the main process without breaking the progress bar."""
        if self.is_main:
            from tqdm.auto import tqdm

            tqdm.write(message)

    # ---------------------------------------------------------------- the pipeline
    def execute(self) -> dict[str, Any]:
        """Run (or resume) the whole case study; return the summary written to summary.json."""
        from accelerate.utils import set_seed

        self._write_config()
        set_seed(self.config.seed)
        if self.config.train.threads:
            import torch

            torch.set_num_threads(self.config.train.threads)
        self.log(f"run folder: {self.dir}")
        backbone = self.load_backbone()
        data = self.call("prepare_data", backbone=backbone)
        backbone = self.freeze(backbone)
        metrics: dict[str, dict] = {}
        if self.config.before:
            metrics["before"] = self.stage_metrics("before", backbone, data)
        if self.accelerator.trackers == [] and self.config.train.trackers:
            self.accelerator.init_trackers(self.plugin, config=self.config.model_dump(mode="json"))
        train_summary = self.call("train", backbone=backbone, data=data)
        metrics["after"] = self.stage_metrics("after", backbone, data, reuse=False)
        summary = {"run_dir": str(self.dir), "plugin": self.plugin, "train": train_summary,
                   "metrics": metrics}
        if self.is_main:
            self.call("export", backbone=backbone, out_dir=self.dir / "model", merge=True)
            (self.dir / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
            from .report import print_table, write_report

            print_table(metrics)
            report = write_report(self, metrics, train_summary)
            self.log(f"report: {report}")
        self.accelerator.wait_for_everyone()
        self.accelerator.end_training()
        self.call("on_run_end", summary=summary)
        return summary

    def call(self, hook: str, **kwargs: Any) -> Any:
        """Call a hook for this run; a missing implementation, a wrong return type or an
        exception in plugin code becomes a PluginError naming the plugin and the hook."""
        caller = getattr(self.hooks, hook)
        try:
            result = caller(run=self, **kwargs)
        except TlgenError:
            raise
        except Exception as exc:
            culprit = _raising_plugin(self.pm, caller, exc) or self.plugin
            raise PluginError(f"plugin {culprit!r}, hook {hook!r} raised "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                              ) from exc
        expected = EXPECTED.get(hook)
        if expected is None:
            return result
        if hook == "report":
            result = [section for found in result for section in (found or [])]
        if result is None:
            raise PluginError(f"plugin {self.plugin!r} does not implement hook {hook!r} "
                              f"(expected it to return {expected[0].__name__})")
        if not isinstance(result, expected):
            raise PluginError(f"plugin {self.plugin!r}, hook {hook!r} returned "
                              f"{type(result).__name__}, expected {expected[0].__name__}")
        return result

    def load_backbone(self, path: str | Path | None = None) -> Backbone:
        return self.call("load_backbone", path=str(path) if path else None)

    def freeze(self, backbone: Backbone) -> Backbone:
        layer_map = self.call("layer_map", backbone=backbone)
        return self.call("freeze", backbone=backbone, layer_map=layer_map)

    def stage_metrics(self, stage: str, backbone: Backbone, data: DataSplits,
                      reuse: bool = True, n: int | None = None) -> dict:
        """Sample and evaluate on the main process; ``before`` is computed once per run."""
        saved = self.dir / f"metrics_{stage}.json"
        if reuse and saved.is_file():
            return json.loads(saved.read_text())
        metrics: dict = {}
        if self.is_main:
            model = backbone.model
            model.eval()
            samples = self.call("sample", backbone=backbone, n=n or self.config.sample.n,
                                stage=stage)
            metrics = self.call("evaluate", backbone=backbone, samples=samples, data=data,
                                stage=stage)
            saved.write_text(json.dumps(metrics, indent=2, default=float))
        self.accelerator.wait_for_everyone()
        return metrics

    def load_trained(self) -> Backbone:
        """The backbone with the freeze strategy applied and the last checkpoint's weights."""
        from safetensors.torch import load_file

        from .trainer import list_checkpoints

        checkpoints = list_checkpoints(self.dir / "checkpoints")
        if not checkpoints:
            raise TlgenError(f"{self.dir} has no checkpoint yet: run `tlgen run --resume {self.dir}`")
        backbone = self.freeze(self.load_backbone())
        weights = checkpoints[-1] / "model.safetensors"
        try:
            state = load_file(weights)
        except Exception as exc:
            raise TlgenError(f"checkpoint {weights} is corrupted or missing ({exc})") from None
        missing, unexpected = backbone.model.load_state_dict(state, strict=False)
        if unexpected:
            raise TlgenError(f"checkpoint {weights} does not match the backbone "
                             f"(unexpected keys such as {unexpected[0]})")
        backbone.model.eval()
        return backbone

    def export(self, out_dir: str | Path, merge: bool = False) -> Path:
        """Write the fine-tuned model in plain Hugging Face format."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        return self.call("export", backbone=self.load_trained(), out_dir=out, merge=merge)

    def _write_config(self) -> None:
        if self.is_main:
            (self.dir / "samples").mkdir(parents=True, exist_ok=True)
            path = self.dir / "config.toml"
            if not path.exists():
                path.write_text(cfg.dump(self.config), encoding="utf-8")
        self.accelerator.wait_for_everyone()


def _raising_plugin(pm: PluginManager, caller, exc: BaseException) -> str | None:
    """The name of the plugin whose hook implementation is on the exception's traceback."""
    codes = {impl.function.__code__: impl.plugin_name for impl in caller.get_hookimpls()}
    tb, found = exc.__traceback__, None
    while tb is not None:
        found = codes.get(tb.tb_frame.f_code, found)
        tb = tb.tb_next
    return found


def _make_accelerator(train: cfg.TrainConfig):
    import torch
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    if train.device == "cuda" and not torch.cuda.is_available():
        raise TlgenError("device 'cuda' was asked for but no GPU is available here; use --device cpu")
    precision = train.precision
    if precision == "auto":
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        precision = "bf16" if bf16 else "no"
    if precision != "no" and not torch.cuda.is_available():
        raise TlgenError(f"precision {precision!r} needs a GPU; use --set train.precision=no")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return Accelerator(
        cpu=train.device == "cpu",
        mixed_precision=precision,
        gradient_accumulation_steps=train.grad_accum,
        log_with=train.trackers or None,
        project_config=ProjectConfiguration(),
        step_scheduler_with_optimizer=False,
    )
