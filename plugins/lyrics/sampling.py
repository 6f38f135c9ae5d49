"""Writing songs in the artist's form: line by line, rhymes in the artist's scheme.

A song's form comes from the artist's training songs: a line count (the mode of the
lines per song, or drawn from their distribution) and the stanza schemes of the artist's
most common song of that length (``ABABCDCDEFEFGG`` for the sonnets). Each line is
sampled ``rhyme_candidates`` times from the song so far (one prefill, the cache shared by
the candidates); a logits processor holds back the end of song and empty lines, a stopping
criterion ends a candidate at its line break. The first candidate that keeps the stanza's
scheme (``metrics.scheme`` of the lines so far, the candidate added, equals the form's) wins;
ties break on a fresh end word and one with rhymes in the artist's songs, for the line's
partner to come. When no candidate rhymes with its partner, a candidate's last word is
swapped for one of the artist's commonest rhymes of the partner (the syllable count kept if
it can be): the swap whose line ending the model finds likeliest after the stanza so far,
unless it is much less likely than the candidate's own ending (``rhymed``).
The song ends after its last line, never mid-line.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from . import metrics as m
from .data import TAG


CUT = "\x00"  # marks a sampled line that ran out of tokens before its break


@dataclass
class Song:
    """A song being written: a header (title or section tag, may be empty), the stanzas'
    lines so far, and the form's stanza schemes it fills."""

    header: str
    stanzas: list[list[str]]
    form: list[str]

    def text(self) -> str:
        body = "\n\n".join("\n".join(lines) for lines in self.stanzas if lines)
        return f"{self.header}\n{body}".strip("\n")

    def next_slot(self) -> tuple[int, int] | None:
        """(stanza, line) of the next line to write; None when the song is complete."""
        for s, scheme in enumerate(self.form):
            if s >= len(self.stanzas) or len(self.stanzas[s]) < len(scheme):
                return s, len(self.stanzas[s]) if s < len(self.stanzas) else 0
        return None

    def add(self, line: str) -> None:
        s, _ = self.next_slot()
        while len(self.stanzas) <= s:
            self.stanzas.append([])
        self.stanzas[s].append(line)


def song_form(songs: list[str], lines: int, window: int) -> list[str]:
    """The stanza schemes of the artist's most common song of ``lines`` lines."""
    forms = Counter(tuple(m.scheme(st, window) for st in m.stanzas(song)) for song in songs
                    if sum(map(len, m.stanzas(song))) == lines)
    return list(forms.most_common(1)[0][0]) if forms else ["A" * lines]


def target_lines(songs: list[str], how: str, n: int, seed: int) -> list[int]:
    """``n`` line counts: the artist's mode (``how="mode"``) or draws from their counts."""
    counts = Counter(m.line_counts(songs))
    if how == "mode":
        return [max(counts, key=lambda k: (counts[k], k))] * n
    rng = random.Random(seed)
    return rng.choices(list(counts), weights=list(counts.values()), k=n)


def prompt_text(prompt: str) -> str:
    """The text a prompt opens a song with: ``title: X`` becomes ``Title: X``; a first line or
    a section tag stays as it is."""
    prompt = prompt.strip()
    if prompt.lower().startswith("title:"):
        return f"Title: {prompt[6:].strip()}"
    return prompt


def start_song(prompt: str, form: list[str]) -> Song:
    """A song opened by ``prompt``: a title or tag is its header, a first line its line 1."""
    text = prompt_text(prompt)
    if text.startswith("Title:") or TAG.match(text) or not m.words(text):
        return Song(header=text, stanzas=[], form=form)
    return Song(header="", stanzas=[[text]], form=form)


def default_prompts(held_out: list[str]) -> list[str]:
    """The first lines of the held-out songs (section tags skipped)."""
    firsts = []
    for song in held_out:
        lines = [line for line in song.split("\n") if line.strip()]
        body = [line for line in lines if not TAG.match(line)]
        firsts.append((body or lines)[0].strip())
    return firsts


@cache
def cmu_rhymes(word: str) -> frozenset[str]:
    """The words of the CMU dictionary that rhyme with ``word`` (single letters left out)."""
    import pronouncing

    return frozenset(w for w in pronouncing.rhymes(word) if len(w) > 1 and w != word)


def rhyme_words(word: str, vocabulary: Counter) -> list[str]:
    """The words of the artist's ``vocabulary`` (word counts) that rhyme with ``word``, the
    artist's most frequent first."""
    return sorted((w for w in cmu_rhymes(word) if vocabulary[w]),
                  key=lambda w: (-vocabulary[w], w))


def is_lyric(line: str) -> bool:
    """Whether the metrics count ``line`` as a line of lyrics (words, not a section tag)."""
    return bool(m.words(line)) and not TAG.match(line)


def rank(candidate: str, song: Song, vocabulary: Counter, window: int) -> tuple[bool, ...]:
    """How well ``candidate`` fits the song's next line (higher is better); an end word a
    later line must rhyme with needs rhymes in the artist's ``vocabulary``."""
    s, k = song.next_slot()
    scheme = song.form[s]
    lines = song.stanzas[s] if s < len(song.stanzas) else []
    end = (m.words(candidate) or [""])[-1]
    keeps = m.scheme([*lines, candidate], window) == scheme[: k + 1]
    fresh = end not in {(m.words(line) or [""])[-1] for line in lines}
    needed = scheme[k] not in scheme[k + 1 :] or bool(rhyme_words(end, vocabulary))
    return is_lyric(candidate), keeps, not candidate.endswith(CUT), fresh, needed


def choose(candidates: list[str], song: Song, vocabulary: Counter, window: int) -> str:
    """The first best-ranked candidate (the candidates are samples, so among the lines that
    fit, the choice is a sample of the model's lines that fit)."""
    return max(candidates, key=lambda c: rank(c, song, vocabulary, window)).removesuffix(CUT)


def candidates(song: Song, most: int) -> int:
    """Samples for the song's next line: ``most`` when it must rhyme with an earlier line,
    else a quarter of that (at least 1; such a line only has to avoid rhyming)."""
    s, k = song.next_slot()
    return most if song.form[s][k] in song.form[s][:k] else max(1, most // 4)


def line_tools(tokenizer):
    """The logits processor (no end of song, no empty line) and the stopping criterion
    (a line break) for sampling one line."""
    import torch
    from transformers import LogitsProcessor, StoppingCriteria

    vocab = len(tokenizer)
    breaks = torch.zeros(vocab, dtype=torch.bool)
    for token, i in tokenizer.get_vocab().items():
        if i < vocab and "\n" in tokenizer.convert_tokens_to_string([token]):
            breaks[i] = True

    class LineLogits(LogitsProcessor):
        def __init__(self, start: int) -> None:
            self.start = start

        def __call__(self, input_ids, scores):
            scores[:, tokenizer.eos_token_id] = -float("inf")
            if input_ids.shape[1] == self.start:  # a line does not start with its break
                scores[:, breaks[: scores.shape[1]].to(scores.device)] = -float("inf")
            return scores

    class LineEnd(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return breaks.to(input_ids.device)[input_ids[:, -1]]

    return LineLogits, LineEnd()


def prefill(model, ids, mask):
    """The KV cache of ``ids`` (left-padded, positions as generate counts them)."""
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return model(input_ids=ids, attention_mask=mask, position_ids=positions,
                 use_cache=True).past_key_values


def sample_lines(model, tokenizer, texts: list[str], n: int, cfg, device) -> list[list[str]]:
    """``n`` sampled next lines for each text (a song so far); a line cut at
    ``cfg.max_line_tokens`` before its break ends in ``CUT``."""
    import torch
    from transformers import LogitsProcessorList, StoppingCriteriaList

    batch = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left",
                      add_special_tokens=False)
    ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
    line_logits, line_end = line_tools(tokenizer)
    with torch.no_grad():
        cache_ = prefill(model, ids[:, :-1], mask[:, :-1])
        cache_.batch_repeat_interleave(n)
        out = model.generate(
            input_ids=ids.repeat_interleave(n, 0), attention_mask=mask.repeat_interleave(n, 0),
            past_key_values=cache_, do_sample=True, max_new_tokens=cfg.max_line_tokens,
            temperature=cfg.temperature, top_p=cfg.top_p,
            repetition_penalty=cfg.repetition_penalty,
            logits_processor=LogitsProcessorList([line_logits(ids.shape[1])]),
            stopping_criteria=StoppingCriteriaList([line_end]),
            pad_token_id=tokenizer.pad_token_id)
    new = [text.replace(CUT, "") for text in  # a NUL byte is no lyric; CUT marks a cut line
           tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)]
    lines = [text.split("\n")[0].strip() + ("" if "\n" in text else CUT) for text in new]
    return [lines[i * n : (i + 1) * n] for i in range(len(texts))]


def song_so_far(song: Song, eos: str) -> str:
    """The text the next line continues: EOS (as after a song's end), the song, a break
    (two at a stanza's start)."""
    s, k = song.next_slot()
    text = song.text()
    if not text:
        return eos
    return eos + text + ("\n\n" if k == 0 and song.stanzas else "\n")


def partner(song: Song, line: str, window: int) -> str | None:
    """The end word ``line`` should rhyme with but does not (None: it keeps the scheme)."""
    s, k = song.next_slot()
    scheme, lines = song.form[s], song.stanzas[s] if s < len(song.stanzas) else []
    earlier = [i for i in range(max(0, k - window), k) if scheme[i] == scheme[k]]
    if not earlier or m.scheme([*lines, line], window) == scheme[: k + 1]:
        return None
    return (m.words(lines[earlier[-1]]) or [None])[-1]


def rhymed(model, tokenizer, song: Song, lines: list[str], vocabulary: Counter, cfg,
           window: int) -> str:
    """The song's next line when no sampled line keeps the scheme: of the sampled ``lines``
    (whole lines, the chosen one first), the one whose last word swapped for a rhyme of its
    partner reads likeliest to the model after the stanza so far (the line break after it
    scored too), unless that ending is over ``cfg.rhyme_slack`` nats less likely than the
    line's own. Rhymes: the ``cfg.rhyme_words`` commonest in the artist's ``vocabulary``
    (0: none) of those with the swapped word's syllable count if any (the metre kept), else
    of all."""
    word = partner(song, lines[0], window) if cfg.rhyme_words else None
    if word is None or not (options := rhyme_words(word, vocabulary)):
        return lines[0]
    heads, endings = [], []
    for line in dict.fromkeys(lines):
        found = [w.start() for w in m.WORD.finditer(line.lower())]
        if len(found) < 2:  # a one-word line has no head to keep
            continue
        end = line[found[-1] :]
        tail = m.WORD.sub("", end.lower(), count=1)
        fits = [w for w in options if m.syllables(w) == m.syllables(end)] or options
        heads.append(line[: found[-1]].rstrip())
        endings.append([f" {end}", *(f" {w}{tail}" for w in fits[: cfg.rhyme_words])])
    if not heads:
        return lines[0]
    s, _ = song.next_slot()
    stanza = "".join(f"{text}\n" for text in song.stanzas[s])
    scores = ending_scores(model, tokenizer, tokenizer.eos_token + stanza, heads,
                           [[f"{e}\n" for e in ends] for ends in endings])
    swaps = [(score, heads[i] + endings[i][j]) for i, row in enumerate(scores)
             for j, score in enumerate(row) if j and score >= row[0] - cfg.rhyme_slack]
    return max(swaps)[1] if swaps else lines[0]


def ending_scores(model, tokenizer, prefix: str, heads: list[str],
                  endings: list[list[str]]) -> list[list[float]]:
    """Log-probability of each of ``endings[i]`` after ``prefix + heads[i]``: the prefix run
    once, the heads once (its cache shared), then every ending (its head's cache shared)."""
    import torch

    device = next(model.parameters()).device
    pre = tokenizer(prefix, return_tensors="pt", add_special_tokens=False)["input_ids"]
    head_ids, head_mask = right_padded(tokenizer, heads, device)
    end_ids, end_mask = right_padded(tokenizer, [e for ends in endings for e in ends], device)
    rows = torch.tensor([i for i, ends in enumerate(endings) for _ in ends], device=device)
    n = pre.shape[1]
    with torch.no_grad():
        cache_ = model(input_ids=pre.to(device), use_cache=True).past_key_values
        cache_.batch_repeat_interleave(len(heads))
        seen = torch.cat([torch.ones(len(heads), n, dtype=head_mask.dtype, device=device),
                          head_mask], 1)
        at = torch.arange(head_ids.shape[1], device=device)
        out = model(input_ids=head_ids, attention_mask=seen, past_key_values=cache_,
                    position_ids=n + at.expand_as(head_ids), use_cache=True)
        cache_ = out.past_key_values
        cache_.reorder_cache(rows)  # one copy of its head's cache per ending
        lengths = head_mask.sum(-1)[rows]
        at = torch.arange(end_ids.shape[1], device=device)
        logits = model(input_ids=end_ids, attention_mask=torch.cat([seen[rows], end_mask], 1),
                       position_ids=n + lengths[:, None] + at, past_key_values=cache_).logits
    first = out.logits[rows, lengths - 1][:, None]  # the head's last token predicts the ending
    logp = torch.cat([first, logits[:, :-1]], 1).log_softmax(-1)
    scores = iter((logp.gather(-1, end_ids[..., None])[..., 0] * end_mask).sum(-1).tolist())
    return [[next(scores) for _ in ends] for ends in endings]


def right_padded(tokenizer, texts: list[str], device):
    """Token ids and attention mask of ``texts``, padded on the right."""
    batch = tokenizer(texts, return_tensors="pt", padding=True, padding_side="right",
                      add_special_tokens=False)
    return batch["input_ids"].to(device), batch["attention_mask"].to(device)


def write(model, tokenizer, songs: list[Song], vocabulary: Counter, cfg, device,
          window: int) -> list[str]:
    """Complete the songs line by line, ``cfg.batch_size`` songs at a time (rhyme words from
    the artist's ``vocabulary``)."""
    import torch

    torch.manual_seed(cfg.seed)
    for start in range(0, len(songs), cfg.batch_size):
        chunk = songs[start : start + cfg.batch_size]
        while todo := [s for s in chunk if s.next_slot() is not None]:
            texts = [song_so_far(s, tokenizer.eos_token) for s in todo]
            n = max(candidates(s, cfg.rhyme_candidates) for s in todo)
            for song, lines in zip(todo, sample_lines(model, tokenizer, texts, n, cfg, device)):
                best = choose(lines, song, vocabulary, window)
                whole = [c for c in lines if is_lyric(c) and not c.endswith(CUT)]
                song.add(rhymed(model, tokenizer, song, [best, *whole], vocabulary, cfg, window))
    return [song.text() for song in songs]


def generate(model, tokenizer, prompts: list[str], artist: list[str], cfg, device,
             window: int = 4) -> list[str]:
    """One song per prompt (prompt included) in the form of the ``artist``'s songs."""
    counts = target_lines(artist, cfg.line_count, len(prompts), cfg.seed)
    forms = {n: song_form(artist, n, window) for n in set(counts)}
    songs = [start_song(p, forms[n]) for p, n in zip(prompts, counts)]
    vocabulary = Counter(w for song in artist for w in m.words(song))
    return write(model, tokenizer, songs, vocabulary, cfg, device, window)


def save(songs: list[str], folder: Path) -> None:
    """One text file per song: ``folder/001.txt``, ... (a folder the data reader accepts)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, song in enumerate(songs, 1):
        (folder / f"{i:03d}.txt").write_text(song + "\n", encoding="utf-8")
