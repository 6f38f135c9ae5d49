import subprocess
import sys

from tlgen import Run

TINY_RUN = ["train.max_steps=4", "train.batch_size=4", "train.eval_every=2", "train.lr=3e-3",
            "train.warmup_steps=0", "freeze.strategy='full'", "data.block_size=64",
            "sample.n=3", "sample.batch_size=2", "sample.max_new_tokens=24",
            "sample.min_new_tokens=8"]


def test_importing_the_plugin_loads_no_torch():
    code = ("import sys, tlgen.plugins.lyrics.plugin; "
            "sys.exit(bool({'torch', 'transformers', 'pronouncing'} & set(sys.modules)))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_a_tiny_run_end_to_end(tiny_backbone, tmp_path):
    overrides = [f"backbone.path='{tiny_backbone}'", *TINY_RUN,
                 "sample.prompts=['[Chorus]', 'title: Summer', 'Shall I compare thee']"]
    run = Run.create("lyrics", overrides=overrides, output_dir=tmp_path, device="cpu")
    summary = run.execute()
    before, after = summary["metrics"]["before"], summary["metrics"]["after"]
    assert after["perplexity"] < before["perplexity"]
    assert {"rhyme_density", "scheme_f1", "syllables_w1", "lines_w1", "distinct_2",
            "longest_copy", "copied_8gram_share"} <= set(after)
    songs = sorted((run.dir / "samples" / "after").glob("*.txt"))
    assert len(songs) == 3 and songs[1].read_text().startswith("Title: Summer")
    for name in ("metrics_artist.json", "perplexity.png", "shapes.png", "model/tokenizer.json"):
        assert (run.dir / name).is_file(), name
    report = (run.dir / "report.html").read_text()
    assert "artist (held-out songs)" in report and "end-rhyme letters marked" in report
