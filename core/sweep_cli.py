"""The ``tlgen sweep`` command (registered in cli.py); the work is in sweep.py."""

from __future__ import annotations

import click

from .cli import _one_line_errors


@click.command()
@click.option("--config", "-c", "config_file", type=click.Path(),
              help="Sweep file: a run config with a [sweep] section.")
@click.option("--output-dir", "-o", type=click.Path(),
              help="The sweep folder (default: sweeps/<time>-<name>).")
@click.option("--trials", type=click.IntRange(min=1),
              help="Complete-or-pruned trials in total (replaces [sweep] n_trials).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes on this machine joining the one study.")
@click.option("--resume", type=click.Path(), help="Continue a stopped sweep folder.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where trials train.")
@_one_line_errors
def sweep(config_file, output_dir, trials, workers, resume, device):
    """Hyperparameter search with Optuna: each trial is an ordinary run in the sweep folder;
    pruned through the trainer's evaluations; sweep.html and best.toml at the end.

    \b
    The sweep file is a run config plus:
      [sweep]
      n_trials = 12                 # complete + pruned trials, in total
      objectives = {valid = "maximize", test_loss = "minimize"}
      sampler = "tpe"               # tpe (multivariate), random, nsga2, qmc
      pruner = "median"             # median, hyperband, wilcoxon, none
      fixed = {"train.threads" = 1} # keys every trial sets
      storage = "postgresql://..."  # optional; default: the sweep folder's journal
      [sweep.space]
      "train.lr" = {low = 1e-4, high = 2e-3, log = true}
      "train.max_steps" = {low = 100, high = 300, step = 50}
      "freeze.strategy" = ["full", "lora"]

    \b
    Examples:
      tlgen sweep --config examples/molecules/sweep.toml -o sweeps/egfr
      tlgen sweep --resume sweeps/egfr               # after a crash or Ctrl-C
      tlgen sweep --config sweep.toml --workers 2 --trials 30
      tlgen run --config sweeps/egfr/best.toml       # the best trial's config
    """
    from .sweep import sweep as run_sweep

    page = run_sweep(config_file, output_dir, trials, workers, resume, device)
    click.echo(f"sweep report: {page}")
    best = page.parent / "best.toml"
    if best.is_file():
        click.echo(f"best config: {best}")
