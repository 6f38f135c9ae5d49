"""The plugin through tlgen's Run API and CLI: light import, defaults, the conformance kit, a
hub-style prior, resume, an over-long data row."""

import html
import math
import subprocess
import sys
import time

import pytest

from tlgen import Run, TlgenError
from tlgen.testing import KillAt, Killed, PluginConformance

from .conftest import TINY

FAST = ["data.max_molecules=120", "sample.n=16", "sample.batch_size=16", "sample.max_tokens=24",
        "evaluate.fcd=false", "train.batch_size=16", "freeze.strategy=freeze-first:1"]
SCRATCH = ["backbone.from_scratch=true", *(f"backbone.{k}={v}" for k, v in TINY.items())]


def test_plugin_module_imports_nothing_heavy():
    code = ("import sys, tlgen.plugins.molecules.plugin as p; p.config_schema(); "
            "p.default_train_config(); heavy = {'torch', 'rdkit', 'transformers', 'deepchem'}; "
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_headline_defaults(tmp_path):
    config = Run.create("molecules", output_dir=tmp_path, device="cpu").config
    assert config.data.source == "chembl2321810" and config.data.split == "scaffold"
    assert config.freeze.strategy == "freeze-first:2"
    assert config.backbone.path is None and not config.backbone.from_scratch


def test_bad_config_value_is_one_line(tmp_path):
    from tlgen import TlgenError

    with pytest.raises(TlgenError, match="data.fractions"):
        Run.create("molecules", overrides=["data.fractions=[0.5, 0.5, 0.5]"], output_dir=tmp_path)


@pytest.mark.slow
class TestMoleculesConforms(PluginConformance):
    plugin = "molecules"
    overrides = [*SCRATCH, *FAST]


def test_random_positions_stay_in_the_context_and_leave_a_share_at_zero():
    import torch
    from transformers import GPT2Config

    from tlgen.plugins.molecules.sampling import random_position_ids

    torch.manual_seed(0)
    positions = random_position_ids(torch.zeros(4000, 40, dtype=torch.long),
                                    GPT2Config(n_positions=96), share=0.25)
    assert positions.min() == 0 and positions.max() == 95
    assert (positions.diff(dim=1) == 1).all()  # each row stays one contiguous run
    shifted = (positions[:, 0] > 0).float().mean().item()
    assert 0.2 < shifted < 0.3  # 0.25 of the rows, less the 1 in 57 drawn at offset 0


@pytest.mark.slow
def test_a_run_with_random_positions_resumes_exactly(tmp_path):
    """The offsets come from torch's RNG, which checkpoints keep: a killed pretraining run
    continues with the same offsets (the kit compares it with an uninterrupted run)."""
    from tlgen.testing import check_resume

    check_resume("molecules", tmp_path, [*SCRATCH, *FAST, "data.random_positions=0.5"])


@pytest.mark.slow
def test_hub_style_prior_fine_tunes_with_lora(tmp_path, bpe_prior):
    run = Run.create("molecules", overrides=[*FAST, f"backbone.path='{bpe_prior}'",
                                             "freeze.strategy=lora", "train.max_steps=2"],
                     output_dir=tmp_path, device="cpu")
    summary = run.execute()
    before, after = summary["metrics"]["before"], summary["metrics"]["after"]
    # core's held-out loss is a per-token mean: an untrained 400-token model scores ~ln(400)
    assert before["test_loss"] == pytest.approx(math.log(400), abs=0.3)
    assert after["test_loss"] != before["test_loss"]  # the LoRA adapters were trained
    assert "test_nll" not in after
    assert len((run.dir / "samples" / "after" / "samples.smi").read_text().splitlines()) == 16
    assert (run.dir / "model" / "config.json").is_file()


@pytest.mark.slow
def test_resumed_run_reports_the_prior_stage_scores(tmp_path):
    """The "before" stage runs once; its per-molecule rows (``StageResult.items``) come back
    from the run folder on resume, so the report still compares prior and fine-tuned samples."""
    import pickle

    # whole molecules (FAST's 24-token cut leaves few valid ones, and "before" must score some)
    settings = [*FAST, "sample.max_tokens=128", "train.max_steps=4", "train.save_every=2",
                "train.eval_every=2", "train.log_every=1"]
    killed = Run.create("molecules", overrides=settings, output_dir=tmp_path, device="cpu",
                        extra_plugins=[KillAt(3)])
    with pytest.raises(Killed):
        killed.execute()
    stored = pickle.loads((killed.dir / "stages" / "before.pkl").read_bytes())["result"]
    assert [row["smiles"] for row in stored.items] == stored.samples
    assert any(row["valid"] for row in stored.items)
    resumed = Run.open(killed.dir)
    resumed.execute()
    report = resumed.dir / "report.html"
    assert "held-out series vs prior vs fine-tuned" in report.read_text()
    assert "Data cleaning" in report.read_text()


@pytest.mark.slow
def test_an_over_long_row_is_dropped_before_the_expensive_work(tmp_path):
    """Issue 16: one 5,000-character line made a 5-step run take 190 s (the scaffold split of
    a 5,000-atom chain); through the CLI it is now dropped, counted and the run stays short."""
    from click.testing import CliRunner

    from tlgen.cli import main
    from tlgen.plugins.molecules.data.molecules import moses_smiles

    path = tmp_path / "series.smi"
    path.write_text("".join(s + "\n" for s in [*moses_smiles("test", 60), "C" * 5000]))
    start = time.process_time()  # CPU seconds: other jobs on the machine don't count
    result = CliRunner().invoke(main, [
        "run", "--plugin", "molecules", "-o", str(tmp_path / "runs"), "--device", "cpu",
        "--steps", "5", "--set", f"data.source='{path}'", "--set", "sample.n=16",
        "--set", "evaluate.fcd=false", "--set", "train.eval_every=5"])
    cpu = time.process_time() - start
    assert result.exit_code == 0, result.output
    assert cpu < 100, f"the run took {cpu:.0f} CPU s"  # ~25 s; the long row alone cost 220 s
    note = ("series.smi: skipped 1 rows longer than 756 characters, more than the backbone's "
            "context holds (lines 61)")
    report = next((tmp_path / "runs").glob("*/report.html")).read_text()
    assert note in html.unescape(report)


@pytest.mark.slow
def test_shipped_prior_fine_tunes_on_the_default_series(tmp_path):
    """The headline run on the shipped prior, shortened: the prior writes valid SMILES and
    fine-tuning moves the samples towards the held-out series."""
    run = Run.create("molecules", overrides=["train.max_steps=20", "train.eval_every=10",
                                             "sample.n=200", "evaluate.fcd=false"],
                     output_dir=tmp_path, device="cpu")
    summary = run.execute()
    before, after = summary["metrics"]["before"], summary["metrics"]["after"]
    assert before["valid"] > 0.8  # the shipped prior: 0.927 on 30,000 samples
    assert after["test_loss"] < before["test_loss"]
    assert after["SNN/Test"] > before["SNN/Test"]
    page = (run.dir / "report.html").read_text()
    assert "figures/top_samples.png" in page and (run.dir / "figures" / "top_samples.png").is_file()
    assert "figures/properties.png" in page and "Data cleaning" in page


def test_random_positions_and_packing_are_refused_together(tmp_path):
    run = Run.create("molecules", overrides=[*FAST, "data.random_positions=0.5", "train.pack=256"],
                     output_dir=tmp_path, device="cpu")
    with pytest.raises(TlgenError, match="random_positions and train.pack cannot be combined"):
        run.execute()
    assert not any(tmp_path.iterdir())  # a failed start leaves no folder
