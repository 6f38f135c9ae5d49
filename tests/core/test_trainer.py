"""The shared trainer's behaviours: pinned losses, token-weighted accumulation, early
stopping with the best weights, the NaN stop, a checkpoint on SIGINT/SIGTERM, and what a
checkpoint holds."""

import os
import re
import signal

import pytest
import torch
from safetensors.torch import load_file

from tlgen import Run, TlgenError, hookimpl
from tlgen.report import read_metrics
from tlgen.checkpoints import list_checkpoints
from tlgen.session import Interrupted
from tlgen.trainer import Trainer

from .conftest import dropout_free_trainer, hooks_plugin


def losses(run, split="train", key="loss"):
    return [r[key] for r in read_metrics(run.dir) if r["split"] == split]


def test_losses_at_a_fixed_seed_are_pinned(make_run):
    """Regression pin (torchtune-style): charlm, seed 0, 12 steps. A change to batching,
    weighting, the schedule or the RNG discipline moves these numbers."""
    run = make_run("before=false")
    run.execute()
    assert losses(run) == pytest.approx([3.5583, 3.4492, 3.3217, 3.2653, 3.2045, 3.1584], abs=2e-3)
    assert losses(run, "eval", "val_loss") == pytest.approx([3.348, 3.209, 3.1734], abs=2e-3)


def step_gradients(run, groups):
    """The gradients one optimizer step applies, for micro-batch groups given by hand
    (same initial weights, dropout off so that only the weighting differs)."""
    trainer, data = dropout_free_trainer(run)
    seen = {}
    step = trainer.optimizer.step

    def capture(*args, **kwargs):
        seen.update({n: p.grad.clone() for n, p in trainer.model.named_parameters()})
        return step(*args, **kwargs)

    trainer.optimizer.step = capture
    trainer._step([data.collate_fn([data.train[i] for i in group]) for group in groups])
    return seen


def test_accumulated_micro_batches_of_different_sizes_weigh_by_tokens(make_run):
    """One step over micro-batches of 1 and 7 sequences (very different token counts) gives
    the gradient of the single batch that holds all 8: each token weighs the same."""
    short, long = [0], [1, 2, 3, 4, 5, 6, 7]
    run = make_run("train.grad_accum=2", name="accumulated")
    accumulated = step_gradients(run, [short, long])
    whole = step_gradients(make_run(name="whole"), [short + long])
    assert accumulated.keys() == whole.keys()
    for name in whole:
        torch.testing.assert_close(accumulated[name], whole[name], rtol=1e-4, atol=1e-6)


def test_validation_loss_is_weighted_by_tokens(make_run):
    run = make_run()
    backbone = run.freeze(run.load_backbone())
    data = run.call("prepare_data", backbone=backbone)
    trainer = Trainer(run, backbone, data)
    backbone.model.eval()
    total, tokens = 0.0, 0
    for item in data.validation:  # one sequence at a time: the plain token mean
        batch = data.collate_fn([item])
        with torch.no_grad():
            loss = backbone.model(**batch).loss.item()
        n = len(item) - 1
        total, tokens = total + loss * n, tokens + n
    assert trainer.evaluate() == pytest.approx(total / tokens, rel=1e-5)


def test_early_stopping_restores_the_best_weights(make_run, capsys):
    """Validation gets worse after step 4 (a loss hook that says so in eval mode): the run
    stops at step 8 and ends on step 4's weights, and says so."""
    evals = []

    def loss(model, batch):
        out = model(**batch).loss
        return out if model.training else out * 0 + len(evals)

    plugin = hooks_plugin(loss=loss, on_evaluate=lambda step: evals.append(step))
    run = make_run("before=false", "train.early_stopping_patience=1", "train.eval_every=4",
                   "train.save_every=4", "train.keep_last=5", extra=[plugin])
    summary = run.execute()
    assert evals == [4, 8] and summary["train"]["steps"] == 8
    assert "restored the best weights: step 4" in capsys.readouterr().out
    at_step_4 = load_file(run.dir / "checkpoints" / "step-00000004" / "model.safetensors")
    final = run.load_trained().model.state_dict()
    at_step_8 = load_file(run.dir / "checkpoints" / "step-00000008" / "model.safetensors")
    for key, value in at_step_4.items():
        torch.testing.assert_close(final[key], value)
    assert any(not torch.equal(at_step_8[k], at_step_4[k]) for k in at_step_4)


def test_a_non_finite_loss_stops_before_any_checkpoint_is_overwritten(make_run):
    """lr=1e6 drives the loss to NaN/inf: the run stops with one line naming the step, and
    no checkpoint after that step exists."""
    run = make_run("before=false", "train.lr=1e6", "train.warmup_steps=0", "train.save_every=2",
                   "train.log_every=4")
    with pytest.raises(TlgenError, match=r"non-finite \(NaN/inf\) at step \d+") as info:
        run.execute()
    bad = int(re.search(r"at step (\d+);", str(info.value)).group(1))
    saved = [int(p.name.split("-")[1]) for p in list_checkpoints(run.dir / "checkpoints")]
    assert all(step < bad for step in saved), (bad, saved)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_a_checkpoint_at_the_current_step(make_run, signum):
    """Ctrl-C or a cluster's SIGTERM at step 7 (save_every 4): a checkpoint at step 7, then
    --resume finishes the run with the same weights as an uninterrupted one."""
    reference = make_run("before=false", name="reference")
    reference.execute()
    sender = hooks_plugin(on_step=lambda step: step == 7 and os.kill(os.getpid(), signum))
    run = make_run("before=false", "train.log_every=1", name="signalled", extra=[sender])
    with pytest.raises(Interrupted, match="at step 7: checkpoint saved") as info:
        run.execute()
    assert info.value.exit_code == 128 + signum
    assert [p.name for p in list_checkpoints(run.dir / "checkpoints")] == ["step-00000004",
                                                                           "step-00000007"]
    Run.resume(run.dir).execute()
    want = reference.load_trained().model.state_dict()
    got = Run.open(run.dir).load_trained().model.state_dict()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6)


def test_lora_checkpoints_hold_the_adapters_only(make_run):
    run = make_run("before=false", "freeze.strategy='lora'")
    run.execute()
    state = load_file(run.dir / "checkpoints" / "step-00000012" / "model.safetensors")
    assert state and all("lora_" in key for key in state), sorted(state)[:5]


def test_a_missing_tracker_package_is_refused_before_anything_runs(make_run, tmp_path):
    with pytest.raises(TlgenError, match=r"tracker 'wandb' needs the wandb package: "
                                         r"pip install 'tlgen\[wandb\]'"):
        make_run("train.trackers=['wandb']")
    assert not (tmp_path / "runs").exists()


def test_two_runs_in_one_process_with_different_devices(tmp_path):
    from .conftest import CHARLM

    first, second = (Run.create(CHARLM, overrides=["before=false", "train.max_steps=2"],
                                output_dir=tmp_path, device=device, name=device)
                     for device in ("cpu", "auto"))
    for run in (first, second):
        assert run.execute()["train"]["steps"] == 2
    assert first.accelerator is not second.accelerator


def test_a_run_that_fails_before_training_leaves_no_folder(make_run, tmp_path):
    def broken():
        raise TlgenError("data.path: no such folder")

    with pytest.raises(TlgenError):
        make_run(extra=[hooks_plugin(prepare_data=hookimpl(tryfirst=True)(broken))]).execute()
    assert not list((tmp_path / "runs").glob("*"))


def test_the_cpu_peak_is_that_of_the_thread_count_the_run_trains_with():
    """MFU on a CPU divides by the matmul peak at the current thread count; a process that
    changed ``train.threads`` between runs used to keep the first run's peak (and could read
    an MFU above 100%)."""
    from tlgen import throughput as trainer

    was = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = trainer.peak_flops(torch.device("cpu"), "no")
        torch.set_num_threads(2)
        trainer.peak_flops(torch.device("cpu"), "no")
        torch.set_num_threads(1)
        assert trainer.peak_flops(torch.device("cpu"), "no") == one  # measured once per count
        keys = trainer._cpu_peak_flops.cache_info().currsize
        assert keys >= 2 and one > 0
    finally:
        torch.set_num_threads(was)
