"""A run: one domain plugin taken through its hooks into a run folder.

``Run.create(...)`` starts a new run from a plugin's defaults, a TOML file and
overrides; ``Run.open(run_dir)`` reopens one (to resume, sample, evaluate, export or
serve). The CLI is a thin layer over this class; domain scripts use it directly::

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
from .contract import Contract
from .errors import TlgenError
from .registry import plugin_manager
from .types import Backbone, DataSplits, StageResult

# What `tlgen run --resume` may change: how long and how visibly the run goes on, never
# what it trains on or how (that would be another run).
RESUMABLE = ("train.max_steps", "reward.max_steps", "reward.budget", "reward.save_every",
             "reward.log_every", "train.eval_every", "train.save_every", "train.log_every",
             "train.keep_last", "train.early_stopping_patience", "train.device", "train.threads",
             "train.trackers", "train.num_workers", "train.heldout_batches", "sample.",
             "evaluate.")


class Run:
    """The state of one run: its validated config, folder, checked hooks and accelerator."""

    # whether hooks keep their samples as files (``samples_dir``); False for a served run,
    # whose every request would otherwise rewrite them
    writes_samples = True

    def __init__(self, config: cfg.RunConfig, contract: Contract, directory: Path) -> None:
        self.config = config
        self.contract = contract
        self.pm = contract.pm
        self.plugin = contract.plugin
        self.hooks = contract.hooks  # unchecked; plugins and core call through ``call``
        self.dir = directory
        self.state: dict[str, Any] = {}  # the plugin's per-run state, kept in checkpoints
        self.resume_record: tuple[str, str] | None = None  # config and line a resume writes
        self._accelerator = None

    # ---------------------------------------------------------------- construction
    @classmethod
    def create(cls, plugin: str | None = None, config_file: str | Path | None = None,
               overrides: Sequence[str] = (), output_dir: str | Path | None = None,
               device: str | None = None, name: str | None = None,
               extra_plugins: Sequence[object] = ()) -> Run:
        """A new run of ``plugin`` (entry-point name, ``package.module`` or ``file.py``)."""
        fixed = {key: value for key, value in (("output_dir", output_dir), ("name", name),
                                                ("train.device", device)) if value is not None}
        fixed = {k: str(v) if k == "output_dir" else v for k, v in fixed.items()}
        pm = plugin_manager(extra_plugins)
        config, domain = cfg.assemble(pm, plugin, config_file, overrides, fixed)
        from .accel import check

        check(config.train)  # a missing GPU or tracker package: refused before anything runs
        run = cls(config, Contract(pm, domain), Path())
        run.dir = _new_dir(Path(config.output_dir), config.name or domain,
                           cpu=config.train.device == "cpu")
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
        pm = plugin_manager(extra_plugins)
        config, domain = cfg.assemble(pm, source=saved, overrides=overrides)
        return cls(config, Contract(pm, domain), directory)

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

    # ---------------------------------------------------------------- runtime
    @property
    def accelerator(self):
        """The Accelerate object: built when the run executes (or on first use by a command
        that samples from it), for the device the config chooses."""
        if self._accelerator is None:
            from .accel import make_accelerator

            self._accelerator = make_accelerator(self.config.train)
        project = self._accelerator.project_configuration
        project.project_dir, project.logging_dir = str(self.dir), str(self.dir / "logs")
        return self._accelerator

    @property
    def device(self):
        return self.accelerator.device

    @property
    def is_main(self) -> bool:
        if self._accelerator is None:  # before the run executes: the launcher's rank
            return int(os.environ.get("RANK", "0")) == 0
        return self._accelerator.is_main_process

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

    def call(self, hook: str, **kwargs: Any) -> Any:
        """Call a hook for this run through the contract: a missing implementation, a wrong
        return type or an exception in plugin code is one line naming plugin and hook."""
        return self.contract.call(hook, run=self, **kwargs)

    # ---------------------------------------------------------------- the pipeline
    def execute(self) -> dict[str, Any]:
        """Run (or resume) the whole case study; return the summary written to summary.json.
        A new run that fails before its first checkpoint leaves no folder behind (a run a
        plugin stopped on purpose, ``StopTraining``, keeps it)."""
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

        from .accel import make_accelerator

        self._accelerator = make_accelerator(self.config.train)
        self._write_config()
        set_seed(self.config.seed)
        if self.config.train.threads:
            import torch

            torch.set_num_threads(self.config.train.threads)
        self.log(f"run folder: {self.dir}")
        backbone = self.load_backbone()
        data = self.call("prepare_data", backbone=backbone)
        backbone = self.freeze(backbone)
        from .preflight import check_backbone

        check_backbone(self, backbone)
        guards.confirm_resume(self, backbone.model)  # nothing of a resume written before this
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
            self.call("export", backbone=backbone, out_dir=_fresh(self.dir / "model"), merge=True)
            (self.dir / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
            from .report import print_table, write_report

            print_table(metrics)
            report = write_report(self, data, results, trained.summary)
            self.log(f"report: {report}")
        self.accelerator.wait_for_everyone()
        self.accelerator.end_training()
        self.call("on_run_end", summary=summary)
        return summary

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
        from .heldout import heldout_loss

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
        from accelerate.utils import set_seed

        from .checkpoints import load_weights, trained_weights

        weights = trained_weights(self.dir / "checkpoints")
        set_seed(self.config.seed)  # checkpoints hold trainable weights: rebuild the same base
        backbone = self.freeze(self.load_backbone())
        load_weights(backbone.model, weights)
        backbone.model.eval()
        return backbone

    def export(self, out_dir: str | Path, merge: bool = False, overwrite: bool = False) -> Path:
        """Write the fine-tuned model in plain Hugging Face format to ``out_dir``: a new or
        empty folder (``overwrite`` allows a non-empty one), never inside a run folder."""
        from .files import check_export_target

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


def _new_dir(output_dir: Path, label: str, cpu: bool) -> Path:
    """``<output_dir>/<time>-<label>``, the same in every process of a distributed run
    (agreed through torch.distributed when the launcher started several)."""
    stamp = [time.strftime("%Y%m%d-%H%M%S")]
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from accelerate import PartialState
        from accelerate.utils import broadcast_object_list

        PartialState(cpu=cpu)  # joins the launcher's process group, as the run will
        broadcast_object_list(stamp)
    base = output_dir / f"{stamp[0]}-{Path(label).stem}"
    directory, i = base, 1
    while directory.exists():
        i += 1
        directory = base.with_name(f"{base.name}-{i}")
    return directory


def _fresh(folder: Path) -> Path:
    """``folder``, created (an export target of the pipeline itself)."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
