"""Writing songs in the artist's form: line by line, rhymes in the artist's scheme.

A song's form comes from the artist's training songs: a line count (the mode of the
lines per song, or drawn from their distribution) and the stanza schemes of the artist's
most common song of that length (``ABABCDCDEFEFGG`` for the sonnets). Each line is
sampled ``rhyme_candidates`` times from the song so far (one prefill, the cache shared by
the candidates); a logits processor holds back the end of song and empty lines, a stopping
criterion ends a candidate at its line break. The first candidate that keeps the stanza's
scheme (``metrics.scheme`` of the lines so far, the candidate added, equals the form's) wins;
ties break on a fresh end word and one that has rhymes, for the line's partner to come.
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
def has_rhymes(word: str) -> bool:
    """Whether the CMU dictionary knows words that rhyme with ``word``."""
    import pronouncing

    return bool(pronouncing.rhymes(word))


def rank(candidate: str, song: Song, window: int) -> tuple[bool, ...]:
    """How well ``candidate`` fits the song's next line (higher is better)."""
    s, k = song.next_slot()
    scheme = song.form[s]
    lines = song.stanzas[s] if s < len(song.stanzas) else []
    end = (m.words(candidate) or [""])[-1]
    keeps = m.scheme([*lines, candidate], window) == scheme[: k + 1]
    fresh = end not in {(m.words(line) or [""])[-1] for line in lines}
    needed = scheme[k] not in scheme[k + 1 :] or has_rhymes(end)
    lyric = bool(end) and not TAG.match(candidate)  # a line the metrics count as one
    return lyric, keeps, not candidate.endswith(CUT), fresh, needed


def choose(candidates: list[str], song: Song, window: int) -> str:
    """The first best-ranked candidate (the candidates are samples, so among the lines that
    fit, the choice is a sample of the model's lines that fit)."""
    return max(candidates, key=lambda c: rank(c, song, window)).removesuffix(CUT)


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

    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
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


def rhyme_words(word: str, most: int) -> list[str]:
    """Up to ``most`` CMU words that rhyme with ``word`` (shortest first: common words)."""
    import pronouncing

    found = {w for w in pronouncing.rhymes(word) if w.isalpha() and w != word}
    return sorted(found, key=lambda w: (len(w), w))[:most]


def rhymed(model, tokenizer, song: Song, line: str, most: int, window: int) -> str:
    """``line``, its last word swapped for the rhyme the model likes best after the rest of
    the line when no sampled line kept the scheme (``most``: rhyme words tried; 0: none)."""
    word = partner(song, line, window) if most else None
    found = [w.start() for w in m.WORD.finditer(line.lower())]
    if word is None or not found or not (options := rhyme_words(word, most)):
        return line
    cut = found[-1]
    head, tail = line[:cut].rstrip(), m.WORD.sub("", line[cut:].lower(), count=1)
    scores = suffix_scores(model, tokenizer, tokenizer.eos_token + song_so_far_text(song) + head,
                           [f" {w}{tail}\n" for w in options])
    return f"{head} {options[max(range(len(options)), key=scores.__getitem__)]}{tail}".strip()


def suffix_scores(model, tokenizer, prefix: str, suffixes: list[str]) -> list[float]:
    """Log-probability of each suffix after ``prefix`` (the prefix run once, its cache shared)."""
    import torch

    pre = tokenizer(prefix, return_tensors="pt", add_special_tokens=False)["input_ids"]
    side, tokenizer.padding_side = tokenizer.padding_side, "right"
    try:
        suf = tokenizer(suffixes, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side
    device = next(model.parameters()).device
    ids, mask = suf["input_ids"].to(device), suf["attention_mask"].to(device)
    with torch.no_grad():
        out = model(input_ids=pre.to(device), use_cache=True)
        cache_ = out.past_key_values
        cache_.batch_repeat_interleave(len(suffixes))
        full = torch.cat([torch.ones(len(suffixes), pre.shape[1], dtype=mask.dtype,
                                     device=device), mask], 1)
        logits = model(input_ids=ids, attention_mask=full, past_key_values=cache_).logits
    logp = torch.cat([out.logits[:, -1:].expand(len(suffixes), -1, -1), logits[:, :-1]], 1)
    logp = logp.log_softmax(-1).gather(-1, ids[..., None])[..., 0]
    return (logp * mask).sum(-1).tolist()


def song_so_far_text(song: Song) -> str:
    """The song's text before its next line (as ``song_so_far`` without the EOS)."""
    return song_so_far(song, "")


def write(model, tokenizer, songs: list[Song], cfg, device, window: int) -> list[str]:
    """Complete the songs line by line, ``cfg.batch_size`` songs at a time."""
    import torch

    torch.manual_seed(cfg.seed)
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        for start in range(0, len(songs), cfg.batch_size):
            chunk = songs[start : start + cfg.batch_size]
            while todo := [s for s in chunk if s.next_slot() is not None]:
                texts = [song_so_far(s, tokenizer.eos_token) for s in todo]
                n = max(candidates(s, cfg.rhyme_candidates) for s in todo)
                for song, lines in zip(todo, sample_lines(model, tokenizer, texts, n, cfg,
                                                          device)):
                    song.add(rhymed(model, tokenizer, song, choose(lines, song, window),
                                    cfg.rhyme_words, window))
    finally:
        tokenizer.padding_side = side
    return [song.text() for song in songs]


def generate(model, tokenizer, prompts: list[str], artist: list[str], cfg, device,
             window: int = 4) -> list[str]:
    """One song per prompt (prompt included) in the form of the ``artist``'s songs."""
    counts = target_lines(artist, cfg.line_count, len(prompts), cfg.seed)
    forms = {n: song_form(artist, n, window) for n in set(counts)}
    songs = [start_song(p, forms[n]) for p, n in zip(prompts, counts)]
    return write(model, tokenizer, songs, cfg, device, window)


def save(songs: list[str], folder: Path) -> None:
    """One text file per song: ``folder/001.txt``, ... (a folder the data reader accepts)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, song in enumerate(songs, 1):
        (folder / f"{i:03d}.txt").write_text(song + "\n", encoding="utf-8")
