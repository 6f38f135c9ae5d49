"""Writing songs: prompts (a first line, a title or a section tag) completed by batched sampling."""

from __future__ import annotations

from pathlib import Path

from .data import TAG


def prompt_text(prompt: str) -> str:
    """The text a prompt opens a song with: ``title: X`` becomes ``Title: X``; a first line or
    a section tag stays as it is; each ends with a line break."""
    prompt = prompt.strip()
    if prompt.lower().startswith("title:"):
        return f"Title: {prompt[6:].strip()}\n"
    return prompt + "\n"


def default_prompts(held_out: list[str]) -> list[str]:
    """The first lines of the held-out songs (section tags skipped)."""
    firsts = []
    for song in held_out:
        lines = [line for line in song.split("\n") if line.strip()]
        body = [line for line in lines if not TAG.match(line)]
        firsts.append((body or lines)[0].strip())
    return firsts


def generate(model, tokenizer, prompts: list[str], cfg, device) -> list[str]:
    """Complete each prompt into a song (prompt included), ``cfg.batch_size`` at a time."""
    import torch

    torch.manual_seed(cfg.seed)
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    songs = []
    try:
        for start in range(0, len(prompts), cfg.batch_size):
            chunk = prompts[start : start + cfg.batch_size]
            texts = [tokenizer.eos_token + prompt_text(p) for p in chunk]  # as after a song's end
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            batch = batch.to(device)
            with torch.no_grad():
                out = model.generate(
                    **batch, do_sample=True, max_new_tokens=cfg.max_new_tokens,
                    min_new_tokens=cfg.min_new_tokens,
                    temperature=cfg.temperature, top_p=cfg.top_p,
                    repetition_penalty=cfg.repetition_penalty,
                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                )
            songs += [t.strip() for t in tokenizer.batch_decode(out, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = side
    return songs


def save(songs: list[str], folder: Path) -> None:
    """One text file per song: ``folder/001.txt``, ... (a folder the data reader accepts)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, song in enumerate(songs, 1):
        (folder / f"{i:03d}.txt").write_text(song + "\n", encoding="utf-8")

