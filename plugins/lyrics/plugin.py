"""The lyrics domain: fine-tune a causal LM on one artist's songs, judged as a songwriter would.

Light on import: torch, transformers and pronouncing load inside the hooks.
The layer map is core's default (``causal_lm_layer_map``: q/k/v/o_proj on Llama).
"""

from __future__ import annotations

import json

from tlgen import hookimpl

from .config import LyricsData, LyricsEvaluate, LyricsSample

DEFAULT_NAME = "SmolLM2-135M-Instruct"
ARTIST_METRICS = "metrics_artist.json"


@hookimpl
def config_schema():
    return {"data": LyricsData, "sample": LyricsSample, "evaluate": LyricsEvaluate}


@hookimpl
def default_train_config():
    return {"train": {"max_steps": 40, "batch_size": 4, "lr": 2e-3, "warmup_steps": 4,
                      "eval_every": 10, "save_every": 20, "log_every": 2},
            "freeze": {"strategy": "lora", "lora_r": 16, "lora_alpha": 32}}


@hookimpl
def load_backbone(run, path):
    from tlgen import Backbone

    from .backbone import load

    cfg = run.config.backbone
    source = path or cfg.path
    model, tokenizer = load(source, cfg.from_scratch)
    return Backbone(model=model.to(run.device), tokenizer=tokenizer, name=source or DEFAULT_NAME)


def _songs(run):
    """The run's artist songs, split into training and held-out songs."""
    from .data import load_songs

    d = run.config.data
    return load_songs(d.path, d.validation_fraction, run.config.seed)


@hookimpl
def prepare_data(run, backbone):
    from tlgen import DataSplits
    from tlgen.data import CausalLMCollator, TokenSequences

    from .data import pack_songs

    songs, block = _songs(run), run.config.data.block_size
    train = TokenSequences(pack_songs(songs.train, backbone.tokenizer, block))
    validation = TokenSequences(pack_songs(songs.validation, backbone.tokenizer, block))
    run.log(f"lyrics: {len(songs.train)} songs to train on ({sum(train.lengths()):,} tokens in "
            f"{len(train)} blocks), {len(songs.validation)} held out")
    return DataSplits(train=train, validation=validation,
                      collate_fn=CausalLMCollator(backbone.tokenizer.pad_token_id),
                      lengths=train.lengths(), extras={"songs": songs})


@hookimpl
def sample(run, backbone, n, stage):
    from . import sampling

    cfg = run.config.sample
    prompts = cfg.prompts or sampling.default_prompts(_songs(run).validation)
    prompts = [prompts[i % len(prompts)] for i in range(n)]
    songs = sampling.generate(backbone.model, backbone.tokenizer, prompts, cfg, run.device)
    sampling.save(songs, run.dir / "samples" / stage)
    return songs


@hookimpl
def evaluate(run, backbone, samples, data, stage):
    from .metrics import CopyIndex, perplexity, song_metrics

    cfg, songs = run.config.evaluate, data.extras["songs"]
    copies = CopyIndex(songs.train, cfg.copy_ngram)
    artist = run.dir / ARTIST_METRICS
    if not artist.is_file():  # the held-out real songs, as a reference column in the report
        reference = song_metrics(songs.validation, songs.train, copies, cfg.rhyme_window)
        artist.write_text(json.dumps(reference, indent=2))
    ppl = perplexity(backbone.model, data.validation, data.collate_fn, cfg.batch_size, run.device)
    return {"perplexity": ppl, **song_metrics(samples, songs.train, copies, cfg.rhyme_window)}


@hookimpl
def report(run, metrics):
    from .report import sections

    return sections(run, metrics, _songs(run))
