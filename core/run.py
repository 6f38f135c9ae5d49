"""A run: one domain plugin taken through its hooks into a run folder.

``Run.create(...)`` starts a new run from a plugin's defaults, a TOML file and
overrides; ``Run.open(run_dir)`` reopens one (to resume, sample, evaluate or
export). The CLI is a thin layer over this class; domain scripts use it directly::

    from tlgen import Run
    run = Run.create("molecules", overrides=["train.max_steps=100"])
    summary = run.execute()          # before -> train -> after -> report
    print(summary["metrics"]["after"])

A plugin keeps what it must remember across hooks in ``run.state`` (a dict saved with
every checkpoint and restored on resume), never in module globals.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import time
from pathlib import Path
from typing import Any, Sequence

from . import config as cfg
from . import guards
from .files import check_export_target
from .errors import PluginError, StopTraining, TlgenError
from .registry import PluginManager, plugin_manager
from .types import Backbone, DataSplits, LayerMap, Rewards, StageResult, TrainResult

# What each hook must return (None: anything); checked on every call through Run.call.
EXPECTED: dict[str, tuple[type, ...] | None] = {
    "load_backbone": (Backbone,), "prepare_data": (DataSplits,), "layer_map": (LayerMap,),
    "freeze": (Backbone,), "train": (TrainResult,), "sample": (list,), "evaluate": (dict,),
    "report": (list,), "export": (str, Path), "decode": (list,), "reward": (Rewards,),
    "item_metrics": (list,), "on_run_end": None,
}
# Hooks a domain may leave out: their call answers None instead of an error.
OPTIONAL = ("item_metrics",)
# What `tlgen run --resume` may change: how long and how visibly the run goes on, never
# what it trains on or how (that would be another run).
RESUMABLE = ("train.max_steps", "reward.max_steps", "reward.budget", "reward.save_every",
             "reward.log_every", "train.eval_every", "train.save_every", "train.log_every",
             "train.keep_last", "train.early_stopping_patience", "train.device", "train.threads",
             "train.trackers", "train.num_workers", "train.heldout_batches", "sample.",
             "evaluate.")


class Run:
    """The state of one run: its validated config, folder, plugins and accelerator."""

    def __init__(self, config: cfg.RunConfig, pm: PluginManager, plugin: str, directory: Path):
        self.config = config
        self.pm = pm
        self.plugin = plugin
        self.dir = directory
        self.hooks = pm.domain_hooks(plugin)
        self.state: dict[str, Any] = {}  # the plugin's per-run state, kept in checkpoints
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
        return run

    @classmethod
    def open(cls, run_dir: str | Path, extra_plugins: Sequence[object] = (),
             overrides: Sequence[str] = ()) -> Run:
        """Reopen an existing run folder with its saved config (``overrides`` apply to this
        session only: a device, a sample count)."""
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

    @classmethod
    def resume(cls, run_dir: str | Path, overrides: Sequence[str] = (),
               extra_plugins: Sequence[object] = ()) -> Run:
        """Reopen a run to continue it. ``overrides`` may change only what ``RESUMABLE``
        names (e.g. a larger ``train.max_steps``); they are written to config.toml and
        recorded in resumes.log. Anything else is refused: it would be another run."""
        before = cls.open(run_dir, extra_plugins)
        guards.check_plugin_unchanged(before.config.plugin, overrides)
        run = cls.open(run_dir, extra_plugins, overrides)
        old = _flatten(before.config.model_dump(mode="json"))
        new = _flatten(run.config.model_dump(mode="json"))
        changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        refused = [k for k in changed if not k.startswith(RESUMABLE)]
        if refused:
            raise TlgenError(f"--resume cannot change {', '.join(refused)}: it would no longer "
                             "continue the same run; start a new run with that setting instead")
        guards.check_resumable(run.dir, run.config)
        if changed:  # written by guards.confirm_resume once the checkpoint is known to fit
            line = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed)
            run.resume_record = (cfg.dump(run.config), line)
        return run

    def _new_dir(self, label: str) -> Path:
        """``<output_dir>/<time>-<label>``, the same in every process of a distributed run."""
        from accelerate.utils import broadcast_object_list

        stamp = [time.strftime("%Y%m%d-%H%M%S")]
        if self.accelerator.num_processes > 1:
            broadcast_object_list(stamp)
        base = Path(self.config.output_dir) / f"{stamp[0]}-{Path(label).stem}"
        directory, i = base, 1
        while directory.exists():
            i += 1
            directory = base.with_name(f"{base.name}-{i}")
        return directory

    # ---------------------------------------------------------------- runtime
    @property
    def accelerator(self):
        """The Accelerate object (created on first use: device, precision, trackers)."""
        if self._accelerator is None:
            self._accelerator = _make_accelerator(self.config.train)
        project = self._accelerator.project_configuration
        project.project_dir, project.logging_dir = str(self.dir), str(self.dir / "logs")
        return self._accelerator

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

    def samples_dir(self, stage: str) -> Path:
        """The folder where a stage's samples are kept (``samples/<stage>``), created."""
        folder = self.dir / "samples" / stage
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # ---------------------------------------------------------------- the pipeline
    def execute(self) -> dict[str, Any]:
        """Run (or resume) the whole case study; return the summary written to summary.json.
        A new run that fails before its first checkpoint leaves no folder behind."""
        new = not (self.dir / "config.toml").exists()
        with guards.signals_stop():
            try:
                with guards.RunLock(self.dir):
                    return self._execute()
            except BaseException as exc:
                removed = new and self.is_main and guards.remove_new_run(self.dir, exc)
                guards.explain_stop(exc, self.dir, removed)
                raise

    def _execute(self) -> dict[str, Any]:
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
        guards.confirm_resume(self, backbone.model)
        results: dict[str, StageResult] = {}
        if self.config.before:
            results["before"] = self.stage("before", backbone, data, keep=True)
        if self.accelerator.trackers == [] and self.config.train.trackers:
            self.accelerator.init_trackers(self.plugin, config=self.config.model_dump(mode="json"))
        trained = self.call("train", backbone=backbone, data=data)
        backbone = trained.backbone
        results["after"] = self.stage("after", backbone, data)
        metrics = {name: result.metrics for name, result in results.items()}
        summary = {"run_dir": str(self.dir), "plugin": self.plugin, "train": trained.summary,
                   "metrics": metrics}
        if self.is_main:
            self.call("export", backbone=backbone, out_dir=self.dir / "model", merge=True)
            (self.dir / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
            from .report import print_table, write_report

            print_table(metrics)
            report = write_report(self, data, results, trained.summary)
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
        except (TlgenError, StopTraining):
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
        if result is None and hook in OPTIONAL:
            return None
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
        """Apply the freeze strategy; the layer map is asked for only when it is used."""
        name, _ = self.config.freeze.parsed()
        layer_map = None if name == "full" else self.call("layer_map", backbone=backbone)
        return self.call("freeze", backbone=backbone, layer_map=layer_map)

    def stage(self, stage: str, backbone: Backbone, data: DataSplits, n: int | None = None,
              keep: bool = False) -> StageResult:
        """Sample, evaluate and add the held-out losses, on the main process. With ``keep``
        the result is stored in the run folder and reused when the run resumes."""
        saved = self.dir / "stages" / f"{stage}.pkl"
        if keep and saved.is_file():  # with the plugin's state of that moment (no checkpoint yet)
            with open(saved, "rb") as fh:
                stored = pickle.load(fh)
            self.state.update(stored["state"])
            return stored["result"]
        result = StageResult(samples=[], metrics={})
        if self.is_main:
            backbone.model.eval()
            samples = self.call("sample", backbone=backbone, data=data,
                                n=self.config.sample.n if n is None else n, stage=stage)
            metrics = self.heldout_losses(backbone, data)
            metrics.update(self.call("evaluate", backbone=backbone, data=data, samples=samples,
                                     stage=stage))
            items = self.call("item_metrics", backbone=backbone, data=data, samples=samples,
                              stage=stage) or []
            result = StageResult(samples=samples, metrics=metrics, items=items)
            if keep:
                saved.parent.mkdir(parents=True, exist_ok=True)
                with open(saved, "wb") as fh:
                    pickle.dump({"result": result, "state": dict(self.state)}, fh)
        self.accelerator.wait_for_everyone()
        return result

    def heldout_losses(self, backbone: Backbone, data: DataSplits) -> dict[str, float]:
        """``val_loss`` / ``test_loss`` (mean over what ``data.count_key`` counts, nats for
        a language model) with the trainer's evaluation code; perplexity for tokens."""
        from .trainer import heldout_loss

        out = {}
        for name, dataset in (("val", data.validation), ("test", data.test)):
            if dataset is not None and len(dataset):
                value = heldout_loss(self, backbone, data, dataset)
                out[f"{name}_loss"] = value
                if data.unit == "tokens":
                    out[f"{name}_perplexity"] = math.exp(min(value, 50.0))
        return out

    def load_trained(self) -> Backbone:
        """The backbone with the freeze strategy applied and the trained weights: the best
        ones where early stopping kept them, else the last checkpoint's."""
        from safetensors.torch import load_file

        from .trainer import best_weights, list_checkpoints

        from accelerate.utils import set_seed

        checkpoints = list_checkpoints(self.dir / "checkpoints")
        if not checkpoints:
            raise TlgenError(f"{self.dir} has no checkpoint yet: run `tlgen run --resume {self.dir}`")
        set_seed(self.config.seed)  # checkpoints hold trainable weights: rebuild the same base
        backbone = self.freeze(self.load_backbone())
        weights = best_weights(self.dir / "checkpoints") or checkpoints[-1] / "model.safetensors"
        try:
            state = load_file(weights)
        except Exception as exc:
            raise TlgenError(f"checkpoint {weights} is corrupted or missing ({exc})") from None
        state = {k.removeprefix("module."): v for k, v in state.items()}
        missing, unexpected = backbone.model.load_state_dict(state, strict=False)
        if unexpected:
            raise TlgenError(f"checkpoint {weights} does not match the backbone "
                             f"(unexpected keys such as {unexpected[0]})")
        backbone.model.eval()
        return backbone

    def export(self, out_dir: str | Path, merge: bool = False, overwrite: bool = False) -> Path:
        """Write the fine-tuned model in plain Hugging Face format to ``out_dir``: a new or
        empty folder (``overwrite`` allows a non-empty one), never inside a run folder."""
        out = check_export_target(out_dir, overwrite)
        backbone = self.load_trained()
        out.mkdir(parents=True, exist_ok=True)
        return self.call("export", backbone=backbone, out_dir=out, merge=merge)

    def _write_config(self) -> None:
        if self.is_main:
            (self.dir / "samples").mkdir(parents=True, exist_ok=True)
            path = self.dir / "config.toml"
            if not path.exists():
                path.write_text(cfg.dump(self.config), encoding="utf-8")
        self.accelerator.wait_for_everyone()


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _raising_plugin(pm: PluginManager, caller, exc: BaseException) -> str | None:
    """The name of the plugin whose hook implementation is on the exception's traceback."""
    codes = {impl.function.__code__: impl.plugin_name for impl in caller.get_hookimpls()}
    tb, found = exc.__traceback__, None
    while tb is not None:
        found = codes.get(tb.tb_frame.f_code, found)
        tb = tb.tb_next
    return found


TRACKER_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow",
                    "comet_ml": "comet_ml", "aim": "aim", "clearml": "clearml",
                    "dvclive": "dvclive"}


def check_trackers(trackers: Sequence[str]) -> None:
    """Each tracker is known and its package importable, else one line saying what to install."""
    import importlib.util

    for name in trackers:
        package = TRACKER_PACKAGES.get(name)
        if package is None:
            raise TlgenError(f"config key 'train.trackers': unknown tracker {name!r}; use one of "
                             f"{', '.join(TRACKER_PACKAGES)}")
        found = importlib.util.find_spec(package) is not None
        if name == "tensorboard" and not found:
            found = importlib.util.find_spec("tensorboardX") is not None
        if not found:
            raise TlgenError(f"tracker {name!r} needs the {package} package: "
                             f"pip install 'tlgen[{name}]' (or drop it from train.trackers)")


_CURRENT: dict[str, Any] = {}  # this process's Accelerate state belongs to one run at a time


def _make_accelerator(train: cfg.TrainConfig):
    """A new Accelerator for a run. Accelerate keeps its settings in process-wide state, so
    a second run in the same process (the Python API, a notebook) with another device or
    precision resets that state first instead of silently inheriting the first run's."""
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState, PartialState
    from accelerate.utils import ProjectConfiguration

    if train.device == "cuda" and not torch.cuda.is_available():
        raise TlgenError("device 'cuda' was asked for but no GPU is available here; use --device cpu")
    precision = train.precision
    if precision == "auto":
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        precision = "bf16" if bf16 else "no"
    if precision != "no" and not torch.cuda.is_available():
        raise TlgenError(f"precision {precision!r} needs a GPU; use --set train.precision=no")
    check_trackers(train.trackers)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    settings = (train.device == "cpu", precision)
    if _CURRENT and PartialState().num_processes == 1:
        AcceleratorState._reset_state(reset_partial_state=_CURRENT["settings"][0] != settings[0])
        GradientState._reset_state()
    if train.tf32 and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    accelerator = Accelerator(
        cpu=settings[0],
        mixed_precision=precision,
        log_with=train.trackers or None,
        project_config=ProjectConfiguration(),
        step_scheduler_with_optimizer=False,
    )
    _CURRENT.update(settings=settings, accelerator=accelerator)
    return accelerator
