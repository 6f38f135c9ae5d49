import math
import pickle
import subprocess
import sys

import pytest
from tlgen import DataSplits, Run
from tlgen.plugins.lyrics.data import Songs

TINY_RUN = ["train.max_steps=4", "train.batch_size=4", "train.eval_every=2", "train.lr=3e-3",
            "train.warmup_steps=0", "freeze.strategy='full'", "data.block_size=64",
            "sample.n=3", "sample.batch_size=2", "sample.max_line_tokens=12",
            "sample.rhyme_candidates=2"]


def test_importing_the_plugin_loads_no_torch():
    code = ("import sys, tlgen.plugins.lyrics.plugin; "
            "sys.exit(bool({'torch', 'transformers', 'pronouncing'} & set(sys.modules)))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.slow
def test_a_tiny_run_end_to_end(tiny_backbone, tmp_path):
    overrides = [f"backbone.path='{tiny_backbone}'", *TINY_RUN,
                 "sample.prompts=['[Chorus]', 'title: Summer', 'Shall I compare thee']"]
    run = Run.create("lyrics", overrides=overrides, output_dir=tmp_path, device="cpu")
    summary = run.execute()
    before, after = summary["metrics"]["before"], summary["metrics"]["after"]
    assert after["val_perplexity"] < before["val_perplexity"]
    assert "perplexity" not in after  # the held-out loss is core's, not the plugin's
    assert {"rhyme_density", "scheme_f1", "syllables_w1", "lines_w1", "distinct_2",
            "longest_copy", "copied_8gram_share"} <= set(after)
    songs = sorted((run.dir / "samples" / "after").glob("*.txt"))
    assert len(songs) == 3 and songs[1].read_text().startswith("Title: Summer")
    for name in ("figures/perplexity.png", "figures/shapes.png", "model/tokenizer.json"):
        assert (run.dir / name).is_file(), name
    assert not (run.dir / "metrics_artist.json").exists()
    before = pickle.loads((run.dir / "stages" / "before.pkl").read_bytes())["result"]
    assert [row["song"] for row in before.items] == before.samples  # item_metrics: one a song
    report = (run.dir / "report.html").read_text()
    assert "<th>artist (held-out songs)</th>" in report
    assert "end-rhyme letters marked" in report and "<i>[Chorus]</i>" in report


def test_sample_prompts_with_the_held_out_songs_it_is_given(tiny_backbone, tmp_path):
    """The prompts come from data.extras (the artist folder is not read again)."""
    overrides = [f"backbone.path='{tiny_backbone}'", "data.path='/no/such/artist'", *TINY_RUN]
    run = Run.create("lyrics", overrides=overrides, output_dir=tmp_path, device="cpu")
    held_out = ["[Verse]\nShall I compare thee\nto a day", "Roses are red\nviolets are blue"]
    data = DataSplits(train=[], extras={"songs": Songs(train=["a song"], validation=held_out)})
    songs = run.call("sample", backbone=run.load_backbone(), data=data, n=3, stage="check")
    assert [song.split("\n")[0] for song in songs] == [
        "Shall I compare thee", "Roses are red", "Shall I compare thee"]
    saved = sorted(run.samples_dir("check").glob("*.txt"))
    assert [p.read_text().strip() for p in saved] == songs


def test_held_out_perplexity_is_per_token_over_all_held_out_songs(tiny_backbone, tmp_path):
    """Core's val_perplexity on the lyrics data (one song per sequence, the shorter ones padded
    in their batch) equals the per-token NLL summed song by song without padding."""
    import torch

    overrides = [f"backbone.path='{tiny_backbone}'", *TINY_RUN, "train.batch_size=3",
                 "data.block_size=1024"]
    run = Run.create("lyrics", overrides=overrides, output_dir=tmp_path, device="cpu")
    backbone = run.load_backbone()
    data = run.call("prepare_data", backbone=backbone)
    got = run.heldout_losses(backbone, data)
    assert len(set(data.validation.lengths())) > 1  # some songs are padded in their batch
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(len(data.validation)):
            ids = torch.tensor([data.validation[i]])
            logits = backbone.model(input_ids=ids).logits[0, :-1]
            total += float(torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum"))
            count += ids.shape[1] - 1
    assert got["val_loss"] == pytest.approx(total / count, rel=1e-4)
    assert got["val_perplexity"] == pytest.approx(math.exp(total / count), rel=1e-4)
