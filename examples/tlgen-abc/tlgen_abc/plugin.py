"""The ``abc`` domain plugin: folk tunes in ABC notation from a character-level GPT-2.

Registered with tlgen through the ``tlgen`` entry-point group (see pyproject.toml).
Imports are absolute, so the module also works when loaded by file path
(``tlgen run --plugin path/to/tlgen_abc/plugin.py``) with the package on ``sys.path``.
"""

from __future__ import annotations

import html
from pathlib import Path

from tlgen import hookimpl

from tlgen_abc import config, model, notation, tunes
from tlgen_abc.metrics import consistent, key_distribution, tune_metrics

SAMPLES_FILE = "tunes.abc"


@hookimpl
def config_schema():
    return {"backbone": config.AbcBackbone, "data": config.AbcData,
            "sample": config.AbcSample, "evaluate": config.AbcEvaluate}


@hookimpl
def default_train_config():
    return {"train": {"max_steps": 150, "batch_size": 8, "lr": 3e-3, "warmup_steps": 10,
                      "eval_every": 25, "save_every": 50, "log_every": 10},
            "freeze": {"strategy": "full"}}


@hookimpl
def load_backbone(run, path):
    return model.load(run.config.backbone, path)


@hookimpl
def prepare_data(run, backbone):
    from tlgen import DataSplits
    from tlgen.data import CausalLMCollator, TokenSequences

    train, val = _split(run)
    tok, width = backbone.tokenizer, backbone.model.config.n_positions

    def encode(texts: list[str]) -> TokenSequences:
        ids = [[tok.bos_token_id, *tok.encode(t, add_special_tokens=False), tok.eos_token_id]
               for t in texts]
        return TokenSequences([seq[:width] for seq in ids])

    train_set = encode(train)
    return DataSplits(train=train_set, validation=encode(val),
                      collate_fn=CausalLMCollator(tok.pad_token_id), lengths=train_set.lengths(),
                      extras={"train_tunes": train})


@hookimpl
def sample(run, backbone, n, stage):
    import torch

    cfg, tok, lm = run.config.sample, backbone.tokenizer, backbone.model
    prompt = [tok.bos_token_id, *tok.encode(cfg.prompt, add_special_tokens=False)]
    start = torch.tensor([prompt] * n, device=next(lm.parameters()).device)
    torch.manual_seed(cfg.seed)
    with torch.no_grad():
        out = lm.generate(input_ids=start, attention_mask=torch.ones_like(start), do_sample=True,
                          max_new_tokens=min(cfg.max_chars, lm.config.n_positions - len(prompt)),
                          temperature=cfg.temperature, top_k=0, pad_token_id=tok.pad_token_id,
                          eos_token_id=tok.eos_token_id)
    texts = [tok.decode(_until_eos(row.tolist()[1:], tok.eos_token_id), skip_special_tokens=True)
             for row in out]
    folder = run.dir / "samples" / stage
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SAMPLES_FILE).write_text("\n\n".join(t.strip() for t in texts) + "\n", encoding="utf-8")
    return texts


@hookimpl
def evaluate(run, backbone, samples, data):
    cfg = run.config.evaluate
    scores = {"val_nll": _validation_nll(backbone.model, data)}
    scores.update(tune_metrics(samples, data.extras["train_tunes"], cfg.ngram, cfg.copy_chars))
    return scores


@hookimpl
def report(run, metrics):
    stages = {s: _saved_tunes(run.dir, s) for s in ("before", "after")}
    table = _key_table({"training": _split(run)[0], **stages})
    shown = stages["after"][: run.config.evaluate.report_tunes]
    tunes_html = "".join(f"<p>{html.escape(_verdict(t))}</p><pre>{html.escape(t)}</pre>" for t in shown)
    return [{"title": "Keys of the tunes (share)", "html": table},
            {"title": "Generated tunes after fine-tuning", "html": tunes_html or "<p>none</p>"}]


def _split(run) -> tuple[list[str], list[str]]:
    data = run.config.data
    return tunes.split(tunes.load(data.path, data.rhythms), data.val_fraction, run.config.seed)


def _until_eos(ids: list[int], eos: int) -> list[int]:
    return ids[: ids.index(eos)] if eos in ids else ids


def _validation_nll(lm, data) -> float:
    """Mean validation loss per token (batches of 8, weighted by tokens)."""
    import torch

    device, total, count = next(lm.parameters()).device, 0.0, 0
    items = [data.validation[i] for i in range(len(data.validation))]
    with torch.no_grad():
        for start in range(0, len(items), 8):
            batch = data.collate_fn(items[start : start + 8])
            tokens = int((batch["labels"][:, 1:] != -100).sum())
            loss = lm(**{k: v.to(device) for k, v in batch.items()}).loss
            total, count = total + float(loss) * tokens, count + tokens
    return total / max(1, count)


def _saved_tunes(run_dir: Path, stage: str) -> list[str]:
    path = run_dir / "samples" / stage / SAMPLES_FILE
    return [t for t in path.read_text(encoding="utf-8").split("\n\n") if t.strip()] if path.is_file() else []


def _verdict(tune: str) -> str:
    parsed = notation.parse(tune)
    _, full, checked = consistent(parsed)
    header = "header X/T/M/K ok" if parsed.has_header else "header incomplete"
    return f"{header}; {full}/{checked} checked bars fit M:{parsed.fields.get('M', '?')}"


def _key_table(groups: dict[str, list[str]]) -> str:
    shares = {name: key_distribution(t) for name, t in groups.items()}
    keys = list(dict.fromkeys(k for s in shares.values() for k in s))
    head = "".join(f"<th>{html.escape(name)}</th>" for name in shares)
    rows = "".join(f"<tr><td>{html.escape(k)}</td>"
                   + "".join(f"<td>{s.get(k, 0.0):.2f}</td>" for s in shares.values()) + "</tr>"
                   for k in keys)
    return f"<table><tr><th>key</th>{head}</tr>{rows}</table>"
