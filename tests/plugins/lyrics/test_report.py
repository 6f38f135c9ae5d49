"""The lyrics report: data-only sections built from the stages' results and the artist's songs
(no files read back), rendered by core's template."""

import json
from types import SimpleNamespace

import pytest
from tlgen.plugins.lyrics import plugin
from tlgen.plugins.lyrics import metrics as m
from tlgen.plugins.lyrics import report as r
from tlgen.plugins.lyrics.config import LyricsEvaluate, LyricsSample
from tlgen.plugins.lyrics.data import Songs
from tlgen.report import check_section, render
from tlgen.types import StageResult

SONG = "[Verse]\nI saw a cat\nit wore a <hat>\n\nla la day\nla la may"
ARTIST = Songs(train=["I saw a cat\nit wore a hat\nit ran away\nand would not stay",
                      "The sun goes down behind the hill,\nThe evening air is calm and still"],
               validation=["Roses are red\nViolets are blue", "The night is long\nI sing a song"])


def fake_run(tmp_path, prompts=()):
    config = SimpleNamespace(evaluate=LyricsEvaluate(), sample=LyricsSample(prompts=list(prompts)))
    return SimpleNamespace(dir=tmp_path, config=config)


def rows(songs: list[str]) -> list[dict]:
    """What the item_metrics hook gives the report: one row per song."""
    return m.song_rows(songs, ARTIST.train, LyricsEvaluate())


def results(before: list[str], after: list[str]) -> dict:
    return {"before": StageResult(samples=before, metrics={"val_perplexity": 40.0, "x": 1.0},
                                  items=rows(before)),
            "after": StageResult(samples=after, metrics={"val_perplexity": 12.0, "x": 2.0},
                                 items=rows(after))}


def test_a_song_becomes_lines_labelled_with_rhyme_letters():
    assert r.marked(rows([SONG])[0]) == {"heading": "AA AA", "lines": [
        ["", "[Verse]"], ["A", "I saw a cat"], ["A", "it wore a <hat>"], ["", ""],
        ["A", "la la day"], ["A", "la la may"]]}


def test_a_song_row_holds_what_the_report_shows_per_song():
    (row,) = rows([SONG])
    assert row["letters"] == " AA AA" and row["scheme"] == "AA AA"
    assert row["lines"] == 4 and row["line_syllables"] == "4 4 3 3"
    assert row["syllables_per_line"] == 3.5 and row["rhyme_density"] == 1.0
    # "i saw a cat it wore a hat" is the artist's: 1 of the song's 8 word 8-grams
    assert row["longest_copy"] == 8 and row["copied_8gram_share"] == 1 / 8
    # the artist's dominant scheme is AABB: pairs (0,1) and (2,3); each stanza AA has (0,1)
    assert row["scheme_f1"] == pytest.approx(2 / 3)


def test_item_metrics_gives_one_row_per_sample_in_order():
    run = SimpleNamespace(config=SimpleNamespace(evaluate=LyricsEvaluate()))
    got = plugin.item_metrics(run, SimpleNamespace(extras={"songs": ARTIST}), [SONG, "la"])
    assert [row["song"] for row in got] == [SONG, "la"] and got[1]["lines"] == 1


def test_side_by_side_has_a_column_per_source_and_empty_cells_past_a_short_one():
    table = r.side_by_side({"before": rows([SONG, SONG]), "after": rows([SONG])})
    assert table["columns"] == ["before", "after"]
    assert len(table["rows"]) == 2 and table["rows"][1][1] is None
    assert table["rows"][1][0] == r.marked(rows([SONG])[0])


def test_the_comparison_table_puts_the_artist_beside_the_stages():
    table = r.comparison_table({"x": 0.5}, {"before": {"val_loss": 3.0, "x": 1.0},
                                            "after": {"val_loss": 2.0, "x": 2.0}})
    assert table["columns"] == ["metric", r.ARTIST, "before", "after"]
    assert table["rows"] == [["val_loss", None, 3.0, 2.0], ["x", 0.5, 1.0, 2.0]]


def test_the_perplexity_curve_starts_at_the_base_model(tmp_path):
    records = [{"step": 2, "split": "train", "loss": 9.0},
               {"step": 2, "split": "eval", "val_loss": 3.0}]
    (tmp_path / "metrics.jsonl").write_text("\n".join(map(json.dumps, records)))
    curve = r.perplexity_curve(tmp_path, results([], []))
    assert curve[0] == (0, 40.0) and curve[1] == (2, pytest.approx(20.0855, rel=1e-4))


def test_sections_come_from_the_results_and_render(tmp_path):
    """Nothing under run.dir but what the report writes: the samples are the results'."""
    run = fake_run(tmp_path)
    sections = r.sections(run, ARTIST, results(["before song\nline"], [SONG]), ["2 songs"])
    assert sections[0] == {"title": "Training data", "items": ["2 songs"]}
    for section in sections:
        check_section(section, "lyrics")
    songs = sections[-1]["table"]
    assert songs["columns"] == ["before", "after", "the artist's held-out song"]
    assert songs["rows"][0][2] == r.marked(rows(ARTIST.validation)[0])
    assert songs["rows"][0][1] == r.marked(rows([SONG])[0])  # the after stage's own row
    comparison = {row[0]: row[1:] for row in sections[2]["table"]["rows"]}
    assert comparison["rhyme_density"][0] == pytest.approx(
        plugin.evaluate(run, SimpleNamespace(extras={"songs": ARTIST}),
                        ARTIST.validation)["rhyme_density"])
    assert comparison["val_perplexity"] == [None, 40.0, 12.0]
    html = render(tmp_path / "report.html", "t", sections).read_text()
    assert '<i>[Verse]</i>' in html and "it wore a &lt;hat&gt;" in html
    assert 'hsl(' in html and "<code>AA AA</code>" in html
    assert (tmp_path / "figures" / "perplexity.png").is_file()
    assert (tmp_path / "figures" / "shapes.png").is_file()


def test_own_prompts_leave_out_the_artist_column(tmp_path):
    sections = r.sections(fake_run(tmp_path, ["[Chorus]"]), ARTIST, results([SONG], [SONG]))
    assert sections[-1]["table"]["columns"] == ["before", "after"]


def test_evaluate_returns_song_metrics_only():
    run = SimpleNamespace(config=SimpleNamespace(evaluate=LyricsEvaluate()))
    got = plugin.evaluate(run, SimpleNamespace(extras={"songs": ARTIST}), [SONG])
    assert "perplexity" not in got and "val_perplexity" not in got
    assert got["rhyme_density"] == 1.0 and got["lines_per_song"] == 4
