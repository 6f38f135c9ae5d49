"""The ``tlgen`` command line. Imports torch only inside the commands that train or sample,
so ``tlgen --help`` and ``tlgen plugins`` answer at once."""

from __future__ import annotations

import os
import sys
from functools import wraps

import click

from . import __version__
from .errors import PluginError, TlgenError
from .guards import signals_stop


def _exit_code(exc: BaseException) -> int:
    """The exit code of a stop: 128 + the signal (130 for a plain Ctrl-C)."""
    return getattr(exc, "exit_code", 130)


def _one_line_errors(func):
    """Print a TlgenError as one line and exit 2, no traceback; SIGTERM stops a command as
    Ctrl-C does (its cleanup runs), with one line and exit code 143."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with signals_stop():
                return func(*args, **kwargs)
        except TlgenError as exc:
            if os.environ.get("TLGEN_TRACEBACK"):
                raise
            hint = " (TLGEN_TRACEBACK=1 shows the traceback)" if isinstance(exc, PluginError) else ""
            click.echo(f"Error: {exc}{hint}", err=True)
            sys.exit(2)
        except OSError as exc:  # a path problem no check foresaw: still one line, naming it
            if os.environ.get("TLGEN_TRACEBACK"):
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"Error: {where}{exc.strerror or exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt as exc:  # the trainer's Interrupted says where it saved
            name = "SIGTERM" if _exit_code(exc) == 143 else "SIGINT"
            message = str(exc) or f"{name}: stopped"
            click.echo(f"Stopped: {message}", err=True)
            sys.exit(_exit_code(exc))

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tlgen")
def main() -> None:
    """Transfer learning for generative models.

    \b
    Examples:
      tlgen plugins
      tlgen run --plugin molecules
      tlgen run --config examples/molecules/finetune_egfr.toml --set train.max_steps=300
      tlgen run --resume runs/20261122-101500-molecules
      tlgen sample runs/20261122-101500-molecules -n 20
      tlgen export runs/20261122-101500-molecules out/ --merge
    """


@main.command()
@click.option("--plugin", "-p", help="Domain plugin: an installed name, package.module or file.py.")
@click.option("--config", "-c", "config_file", type=click.Path(), help="TOML config file.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key, e.g. --set train.lr=1e-4 (repeatable).")
@click.option("--resume", type=click.Path(), help="Continue a stopped run from its last checkpoint "
              "(--steps and --set train.*/sample.* keys may change; they are recorded).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where to train.")
@click.option("--steps", type=int, help="Shortcut for --set train.max_steps=N.")
@click.option("--freeze", help="Shortcut for --set freeze.strategy=S (full, freeze-first:N, "
              "freeze-embeddings, lora).")
@click.option("--backbone", help="Shortcut for --set backbone.path=ID_OR_FOLDER.")
@click.option("--output-dir", "-o", type=click.Path(), help="Parent folder of run folders (runs/).")
@click.option("--name", help="Run folder label (default: the plugin name).")
@_one_line_errors
def run(plugin, config_file, overrides, resume, device, steps, freeze, backbone, output_dir, name):
    """Fine-tune, sample and evaluate: before vs after, written to runs/<time>-<plugin>/.

    \b
    Examples:
      tlgen run --plugin molecules
      tlgen run --plugin lyrics --freeze lora --steps 100
      tlgen run --plugin ./my_plugin.py --set data.path=songs/
      tlgen run --resume runs/20261122-101500-molecules --steps 400
    """
    from .files import check_name, run_folder, writable_folder
    from .run import Run

    flags = list(overrides)
    for key, value in (("train.max_steps", steps), ("freeze.strategy", freeze),
                       ("backbone.path", backbone)):
        if value is not None:
            flags.append(f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}")
    if resume:
        if plugin or config_file or output_dir or name:
            raise TlgenError("--resume takes the run folder; its config.toml has the plugin, "
                             "config and folder (use --steps/--set to change what may change)")
        if device:
            flags.append(f"train.device={device!r}")
        the_run = Run.resume(run_folder(resume, "--resume"), overrides=flags)
    else:
        the_run = Run.create(plugin=plugin, config_file=config_file, overrides=flags,
                             output_dir=output_dir, device=device, name=name)
        writable_folder(the_run.dir.parent, "output folder (-o / output_dir)")
        check_name(the_run.dir, "run folder (--name)")
    the_run.execute()


@main.command()
@_one_line_errors
def plugins():
    """List installed plugins: name, kind, source and the hooks each implements."""
    from .registry import plugin_manager

    rows = plugin_manager().describe()
    if not rows:
        click.echo("no plugins installed")
    for row in rows:
        click.echo(f"{row['name']:<14} {row['kind']:<10} {row['source']}")
        if row["hooks"]:
            click.echo(f"{'':<14} hooks: {row['hooks']}")


@main.command()
@click.argument("run_dir", type=click.Path())
@click.option("-n", "n", default=10, show_default=True, type=click.IntRange(min=1),
              help="How many samples (at least 1).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1),
              help="Sampling seed (default: the run's sample.seed).")
@_one_line_errors
def sample(run_dir, n, seed):
    """Sample from a run's fine-tuned model and print the samples. Files the plugin keeps go
    to a new, dated stage (samples/sample-TIME/); nothing of the run is overwritten.

    \b
    Example:
      tlgen sample runs/20261122-101500-molecules -n 20 --seed 7
    """
    from .files import run_folder
    from .run import Run

    the_run = Run.open(run_folder(run_dir),
                       overrides=[f"sample.seed={seed}"] if seed is not None else [])
    backbone = the_run.load_trained()
    data = the_run.call("prepare_data", backbone=backbone)
    stage = _dated_stage(the_run, "sample")
    for item in the_run.call("sample", backbone=backbone, data=data, n=n, stage=stage):
        click.echo(item if isinstance(item, str) else repr(item))


def _dated_stage(run, kind: str) -> str:
    """``KIND-YYYYmmdd-HHMMSS`` (``_2``, ``_3``... when two start in the same second): a
    stage name no earlier command of the run used."""
    import time

    base = f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    stage, i = base, 1
    while (run.dir / "samples" / stage).exists() or \
            (run.dir / "evaluations" / f"{stage}.json").exists():
        i += 1
        stage = f"{base}_{i}"
    return stage


@main.command()
@click.argument("run_dir", type=click.Path())
@click.option("-n", "n", type=click.IntRange(min=1),
              help="Samples to evaluate (default: the config's sample.n).")
@_one_line_errors
def evaluate(run_dir, n):
    """Re-sample a run's fine-tuned model and print its metrics beside the run's own.

    Writes a new, dated evaluation (evaluations/eval-TIME.json, samples/eval-TIME/); the
    run's results are never overwritten.

    \b
    Example:
      tlgen evaluate runs/20261122-101500-molecules -n 500
    """
    import json

    from .files import check_writable_tree, run_folder
    from .guards import discard_on_failure
    from .report import print_table
    from .run import Run

    the_run = Run.open(run_folder(run_dir))
    check_writable_tree(the_run.dir, "run folder", ("evaluations", "samples"))
    backbone = the_run.load_trained()
    data = the_run.call("prepare_data", backbone=backbone)
    summary_file = the_run.dir / "summary.json"
    stored = json.loads(summary_file.read_text())["metrics"] if summary_file.is_file() else {}
    stage = _dated_stage(the_run, "eval")
    out = the_run.dir / "evaluations" / f"{stage}.json"
    with discard_on_failure(the_run.dir / "samples" / stage, out.parent, out, what="evaluation"):
        result = the_run.stage(stage, backbone, data, n=n)
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps({"n": n or the_run.config.sample.n, "metrics": result.metrics},
                                  indent=2, default=float))
    print_table({**stored, stage: result.metrics})
    click.echo(f"evaluation written to {out}")


@main.command()
@click.argument("run_dir", type=click.Path())
@click.argument("out_dir", type=click.Path())
@click.option("--merge", is_flag=True, help="Merge LoRA adapters into the base weights.")
@click.option("--overwrite", is_flag=True, help="Write into OUT_DIR even if it is not empty.")
@_one_line_errors
def export(run_dir, out_dir, merge, overwrite):
    """Write a run's model in plain Hugging Face format (loadable without tlgen).

    OUT_DIR must be new or empty (or pass --overwrite) and outside any run folder.

    \b
    Example:
      tlgen export runs/20261122-101500-lyrics out/sonnets-lora            # adapter only
      tlgen export runs/20261122-101500-lyrics out/sonnets --merge         # full model
    """
    from .files import run_folder
    from .run import Run

    out = Run.open(run_folder(run_dir)).export(out_dir, merge=merge, overwrite=overwrite)
    click.echo(f"exported to {out}")


@main.command()
@click.option("--plugin", "-p", help="Domain plugin: an installed name, package.module or file.py.")
@click.option("--config", "-c", "config_file", type=click.Path(), help="TOML config file.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key for every variant (repeatable).")
@click.option("--variant", "variants", multiple=True, metavar="STRATEGY",
              help="full, freeze-first:N, freeze-embeddings, lora or scratch (repeatable; "
                   "default: full, freeze-first:2, lora, scratch).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where to train.")
@click.option("--output-dir", "-o", default="runs", show_default=True, type=click.Path())
@_one_line_errors
def compare(plugin, config_file, overrides, variants, device, output_dir):
    """Run one case study under several freeze strategies and from scratch; write one
    comparison report (metrics, overlaid learning curves, compute used).

    \b
    Examples:
      tlgen compare --plugin molecules
      tlgen compare --plugin lyrics --variant lora --variant scratch --set train.max_steps=50
    """
    from .compare import DEFAULT_VARIANTS
    from .compare import compare as run_compare

    out = run_compare(plugin, config_file, overrides, variants or DEFAULT_VARIANTS, output_dir,
                      device)
    click.echo(f"comparison: {out}")


@main.command("new-plugin")
@click.argument("name")
@click.option("--dest", type=click.Path(), default=".", show_default=True,
              help="Folder in which the package folder tlgen-NAME is written.")
@_one_line_errors
def new_plugin(name, dest):
    """Write a plugin package skeleton (pyproject, entry point, hooks, conformance tests).

    \b
    Example:
      tlgen new-plugin music && cd tlgen-music && pip install -e . && python -m pytest -q
    """
    from pathlib import Path

    from .scaffold import new_plugin as write_skeleton

    root = write_skeleton(name, Path(dest))
    click.echo(f"wrote {root}; next: cd {root} && pip install -e . && python -m pytest -q")


from .sweep_cli import sweep  # noqa: E402  (its module uses _one_line_errors from here)

main.add_command(sweep)

from .serve_cli import monitor, serve  # noqa: E402  (uses _one_line_errors from here)

main.add_command(serve)
main.add_command(monitor)
