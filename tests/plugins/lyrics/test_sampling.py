"""Writing songs in the artist's form: the line count held, no song ending mid-line, lines
reranked for the artist's rhyme scheme (a tiny Llama built in code; SmolLM2 only when slow)."""

from collections import Counter
from types import SimpleNamespace

import pytest
from tlgen.plugins.lyrics import metrics as m
from tlgen.plugins.lyrics import sampling
from tlgen.plugins.lyrics.sampling import decoding, form, rhyme
from tlgen.plugins.lyrics.config import LyricsSample

VOCABULARY = Counter(["still", "high"])
ARTIST = ["I saw a cat\nit wore a hat\nit ran away\nand would not stay",
          "The sun goes down\nupon the town\nthe night is long\nI sing a song",
          "one line\nand two\n\nthree more\nfour"]


def test_the_form_is_the_usual_line_count_and_its_most_common_scheme():
    assert form.target_lines(ARTIST, "mode", 3, seed=0) == [4, 4, 4]
    assert form.song_form(ARTIST, 4, window=4) == ["AABB"]
    assert form.song_form(ARTIST, 7, window=4) == ["A" * 7]  # no song that long: one stanza
    drawn = form.target_lines(ARTIST * 10 + ["a\nb"], "sample", 200, seed=1)
    assert set(drawn) == {2, 4}


def test_a_song_fills_its_stanzas_in_order():
    song = form.start_song("[Chorus]", ["AB", "A"])
    assert song.header == "[Chorus]" and song.next_slot() == (0, 0)
    for line in ("one", "two", "three"):
        song.add(line)
    assert song.next_slot() is None
    assert song.text() == "[Chorus]\none\ntwo\n\nthree"
    first = form.start_song("Shall I compare thee", ["ABAB"])
    assert first.stanzas == [["Shall I compare thee"]] and first.next_slot() == (0, 1)


def test_reranking_keeps_the_scheme_and_prefers_fresh_complete_lines():
    song = form.start_song("The sun goes down behind the hill,", ["ABAB"])
    song.add("The birds fly home across the sky,")
    nothing_better = rhyme.choose(["[Chorus]", "..."], song, VOCABULARY, 4)
    assert nothing_better in ("[Chorus]", "...")
    assert rhyme.choose(["[Chorus]", "it rains"], song, VOCABULARY, 4) == "it rains"
    cands = ["it rains", "a day" + form.CUT, "the hill,", "the air is calm and still,",
             "and calm and still" + form.CUT]
    assert rhyme.choose(cands, song, VOCABULARY, 4) == "the air is calm and still,"
    assert rhyme.candidates(song, 8) == 8  # line 3 rhymes with line 1
    free = form.start_song("The sun goes down behind the hill,", ["ABAB"])
    assert rhyme.candidates(free, 8) == 2
    choice = rhyme.choose(["upon the hill", "across the sky"], free, VOCABULARY, 4)
    assert choice == "across the sky"
    # an end word line 4 must rhyme with: one with rhymes in the artist's vocabulary
    lines = ["beside the tree", "across the sky"]
    assert rhyme.choose(lines, free, Counter(["high"]), 4) == "across the sky"
    assert rhyme.choose(lines, free, Counter(["free"]), 4) == "beside the tree"


@pytest.fixture(scope="module")
def tiny(tiny_backbone):
    from tlgen.plugins.lyrics.backbone import load

    model, tokenizer = load(str(tiny_backbone))
    return model.eval(), tokenizer


def test_candidates_are_whole_lines_without_end_of_song(tiny):
    model, tokenizer = tiny
    cfg = LyricsSample(max_line_tokens=6, temperature=2.0)
    texts = [tokenizer.eos_token + "Shall I compare thee\n", tokenizer.eos_token]
    lines = decoding.sample_lines(model, tokenizer, texts, 5, cfg, "cpu")
    assert [len(c) for c in lines] == [5, 5]
    assert all("\n" not in c for cands in lines for c in cands)


def test_songs_have_the_artist_line_count_and_end_after_a_whole_line(tiny):
    model, tokenizer = tiny
    cfg = LyricsSample(max_line_tokens=8, rhyme_candidates=4, batch_size=2, temperature=1.5)
    songs = sampling.generate(model, tokenizer, ["I saw a cat", "[Verse]", "title: Rain"], ARTIST,
                       cfg, "cpu")
    assert [m.line_counts([song])[0] for song in songs] == [4, 4, 5]  # the title is a line
    assert songs[0].startswith("I saw a cat\n") and songs[2].startswith("Title: Rain\n")
    assert all(form.CUT not in song and not song.endswith("\n") for song in songs)


def test_the_prefix_cache_gives_the_logits_of_a_plain_forward(tiny):
    """The candidates continue the same distribution as without the shared prefill."""
    import torch

    model, tokenizer = tiny
    tokenizer.padding_side = "left"
    batch = tokenizer(["<eos>a b c\n", "<eos>hello there my\n"], return_tensors="pt",
                      padding=True, add_special_tokens=False)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        cache = decoding.prefill(model, ids[:, :-1], mask[:, :-1])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        step = model(input_ids=ids[:, -1:], attention_mask=mask, past_key_values=cache,
                     position_ids=positions[:, -1:]).logits[:, -1]
        full = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits[:, -1]
    assert torch.allclose(step, full, atol=1e-4)


def test_a_line_that_misses_its_rhyme_ends_on_a_rhyme_the_model_likes(tiny):
    model, tokenizer = tiny
    song = form.start_song("The sun goes down behind the hill,", ["ABAB"])
    song.add("The birds fly home across the sky,")
    assert rhyme.partner(song, "the air is calm and still,", 4) is None
    assert rhyme.partner(song, "the air is calm and warm,", 4) == "hill"
    vocabulary = Counter(m.words(" ".join(ARTIST)) + ["still", "will", "until", "fill"])
    cfg = LyricsSample(rhyme_slack=1e9)  # any ending, however unlikely (config refuses inf)
    lines = ["the air is calm and warm,", "and cold,", "a wind" + form.CUT]
    line = rhyme.rhymed(model, tokenizer, song, lines[:2], vocabulary, cfg, 4)
    assert line.endswith(",") and rhyme.partner(song, line, 4) is None
    assert m.words(line)[-1] in {"still", "will", "fill"}  # one syllable, as "warm"/"cold"
    never = LyricsSample(rhyme_words=0)
    assert rhyme.rhymed(model, tokenizer, song, lines[:1], vocabulary, never, 4) == lines[0]
    # no rhyme the artist uses: the line stays
    assert rhyme.rhymed(model, tokenizer, song, lines[:1], Counter(["sky"]), cfg, 4) == lines[0]


def test_a_rhyme_swap_much_less_likely_than_the_line_s_own_ending_is_not_made(monkeypatch):
    song = form.start_song("The sun goes down behind the hill,", ["ABAB"])
    song.add("The birds fly home across the sky,")
    endings = []

    def scores(model, tokenizer, prefix, heads, ends):
        endings.extend(ends)
        return [[-1.0, -3.0, -7.0]]  # the line's own ending, then the swaps

    monkeypatch.setattr(rhyme, "ending_scores", scores)
    vocabulary = Counter(["still"] * 2 + ["will"])
    line = "the air is calm and warm,"
    for slack, want in ((5.0, "the air is calm and still,"), (1.0, line)):
        cfg = LyricsSample(rhyme_slack=slack)
        assert rhyme.rhymed(None, SimpleNamespace(eos_token="<eos>"), song, [line], vocabulary, cfg,
                        4) == want
    assert endings[0] == [" warm,\n", " still,\n", " will,\n"]


def test_rhyme_words_are_the_artists_commonest_rhymes():
    vocabulary = Counter(["will"] * 3 + ["still"] * 5 + ["until", "hill", "i", "sky"])
    assert rhyme.rhyme_words("hill", vocabulary) == ["still", "will", "until"]
    assert rhyme.rhyme_words("sky", vocabulary) == []  # single letters are no rhyme words


def test_ending_scores_are_the_log_probabilities_of_a_plain_forward(tiny):
    """Heads of different lengths (padded) and endings of different lengths score as each
    whole text would in one plain forward."""
    import torch

    model, tokenizer = tiny
    heads, endings = ["the sun", "and all the night is"], [[" is", " goes down\n"], [" long"]]
    got = rhyme.ending_scores(model, tokenizer, "<eos>I saw\n", heads, endings)
    assert [len(g) for g in got] == [2, 1]
    for head, ends, scores in zip(heads, endings, got):
        for ending, score in zip(ends, scores):
            ids = tokenizer("<eos>I saw\n" + head + ending, return_tensors="pt")["input_ids"]
            n = len(tokenizer(ending)["input_ids"])
            with torch.no_grad():
                logp = model(input_ids=ids).logits[0, :-1].log_softmax(-1)
            want = logp[-n:].gather(-1, ids[0, -n:, None]).sum()
            assert score == pytest.approx(float(want), abs=1e-3)
