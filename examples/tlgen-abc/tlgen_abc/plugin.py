"""The ``abc`` domain plugin: folk tunes in ABC notation from a character-level GPT-2.

Registered with tlgen through the ``tlgen`` entry-point group (see pyproject.toml).
Imports are absolute, so the module also works when loaded by file path
(``tlgen run --plugin path/to/tlgen_abc/plugin.py``) with the package on ``sys.path``.
"""

from __future__ import annotations

from tlgen import hookimpl

from tlgen_abc import config, model, tunes
from tlgen_abc import report as abc_report
from tlgen_abc.metrics import tune_metrics

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

    cfg = run.config.data
    train, val = tunes.split(tunes.load(cfg.path, cfg.rhythms), cfg.val_fraction, run.config.seed)
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
    tunes_file = run.samples_dir(stage) / SAMPLES_FILE  # for the user; never read back here
    tunes_file.write_text("\n\n".join(t.strip() for t in texts) + "\n", encoding="utf-8")
    return texts


@hookimpl
def evaluate(run, data, samples):
    """The tunes' own metrics; core adds the held-out loss (``val_loss``) per character."""
    cfg = run.config.evaluate
    return tune_metrics(samples, data.extras["train_tunes"], cfg.ngram, cfg.copy_chars)


@hookimpl
def report(run, data, results):
    """Key shares (training vs each stage) and a few tunes of each stage, checked."""
    return abc_report.sections(data.extras["train_tunes"], results,
                               run.config.evaluate.report_tunes)


def _until_eos(ids: list[int], eos: int) -> list[int]:
    return ids[: ids.index(eos)] if eos in ids else ids
