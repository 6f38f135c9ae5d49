"""Drawing lines from the model: one line at a time for a batch of songs (one prefill, the
cache shared by a line's candidates), stopped at its break, no end of song before the last
line; ``write`` completes the songs."""

from __future__ import annotations

from collections import Counter

from .form import CUT, Song
from .rhyme import candidates, choose, is_lyric, rhymed

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
