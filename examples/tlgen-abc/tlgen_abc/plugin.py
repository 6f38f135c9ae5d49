"""The ``abc`` domain plugin: folk tunes in ABC notation from a character-level GPT-2.

Registered with tlgen through the ``tlgen`` entry-point group (see pyproject.toml).
Imports are absolute, so the module also works when loaded by file path
(``tlgen run --plugin path/to/tlgen_abc/plugin.py``) with the package on ``sys.path``.
"""

from __future__ import annotations

from tlgen import hookimpl

from tlgen_abc import config
from tlgen_abc import report as abc_report
from tlgen_abc.backbone import load as load_model
from tlgen_abc.data import load as load_tunes
from tlgen_abc.metrics import tune_metrics
from tlgen_abc.sampling import draw


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
    return load_model(run.config.backbone, path)


@hookimpl
def prepare_data(run, backbone):
    from tlgen import DataSplits
    from tlgen.data import CausalLMCollator, TokenSequences
    from tlgen.lm import encode_texts, hold_out

    cfg = run.config.data
    train, val = hold_out(load_tunes(cfg.path, cfg.rhythms), cfg.val_fraction, run.config.seed)
    tok, width = backbone.tokenizer, backbone.model.config.n_positions

    def encode(texts: list[str]) -> TokenSequences:
        return TokenSequences(encode_texts(tok, texts, max_length=width))

    train_set = encode(train)
    return DataSplits(train=train_set, validation=encode(val),
                      collate_fn=CausalLMCollator(tok.pad_token_id), lengths=train_set.lengths(),
                      extras={"train_tunes": train})


@hookimpl
def sample(run, backbone, n, stage):
    return draw(run, backbone, n, stage)


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
