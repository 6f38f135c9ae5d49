"""Drawing tunes: core's draw (generate, stop at EOS, decode) after the ``X:`` prompt."""

from __future__ import annotations

SAMPLES_FILE = "tunes.abc"


def draw(run, backbone, n: int, stage: str) -> list[str]:
    """``n`` tunes drawn after ``sample.prompt`` (kept), each up to ``sample.max_chars``
    characters more; also ``samples/<stage>/tunes.abc`` for the user (never read back)."""
    from tlgen.lm import generate_texts

    cfg = run.config.sample
    prompt = len(backbone.tokenizer.encode(cfg.prompt, add_special_tokens=False))
    texts = generate_texts(backbone.model, backbone.tokenizer, n, temperature=cfg.temperature,
                           max_tokens=1 + prompt + cfg.max_chars, prompt=cfg.prompt,
                           seed=cfg.seed)
    tunes_file = run.samples_dir(stage) / SAMPLES_FILE
    tunes_file.write_text("\n\n".join(t.strip() for t in texts) + "\n", encoding="utf-8")
    return texts
