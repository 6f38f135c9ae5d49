"""Rhymes for the next line: ranking the sampled candidates against the stanza's scheme, and,
when none rhymes with its partner, swapping a candidate's last word for one of the artist's
commonest rhymes, scored by the model (``rhymed``)."""

from __future__ import annotations

from collections import Counter
from functools import cache

from .. import metrics as m
from ..data import TAG
from .form import CUT, Song

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
