"""The lyrics domain: fine-tune a causal LM on one artist's songs, judged as a songwriter would.

Light on import: torch, transformers and pronouncing load inside the hooks.
The layer map is core's default (``causal_lm_layer_map``: q/k/v/o_proj on Llama).
"""

from __future__ import annotations

from tlgen import hookimpl

from .config import LyricsData, LyricsEvaluate, LyricsSample

DEFAULT_NAME = "SmolLM2-135M-Instruct"


@hookimpl
def config_schema():
    return {"data": LyricsData, "sample": LyricsSample, "evaluate": LyricsEvaluate}


@hookimpl
def default_train_config():
    return {"train": {"max_steps": 30, "batch_size": 4, "lr": 2e-3, "warmup_steps": 4,
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


@hookimpl
def prepare_data(run, backbone):
    from tlgen import DataSplits
    from tlgen.data import CausalLMCollator, TokenSequences

    from .data import load_songs, song_sequences

    d = run.config.data
    songs = load_songs(d.path, d.validation_fraction, run.config.seed)
    train, cut = song_sequences(songs.train, backbone.tokenizer, d.block_size)
    validation, cut_val = song_sequences(songs.validation, backbone.tokenizer, d.block_size)
    train = TokenSequences(train)
    notes = [f"{len(songs.train)} songs to train on, one song per sequence "
             f"({sum(train.lengths()):,} tokens), {len(songs.validation)} held out",
             f"songs longer than data.block_size={d.block_size} tokens, truncated: "
             f"{cut} of {len(songs.train)} training, {cut_val} of {len(songs.validation)} "
             "held out"]
    for note in notes:
        run.log(f"lyrics: {note}")
    return DataSplits(train=train, validation=TokenSequences(validation),
                      collate_fn=CausalLMCollator(backbone.tokenizer.pad_token_id),
                      lengths=train.lengths(), extras={"songs": songs, "notes": notes})


@hookimpl
def sample(run, backbone, data, n, stage):
    from . import sampling
    from .sampling.form import default_prompts

    cfg = run.config.sample
    prompts = cfg.prompts or default_prompts(data.extras["songs"].validation)
    prompts = [prompts[i % len(prompts)] for i in range(n)]
    songs = sampling.generate(backbone.model, backbone.tokenizer, prompts,
                              data.extras["songs"].train, cfg, run.device,
                              run.config.evaluate.rhyme_window)
    sampling.save(songs, run.samples_dir(stage))
    return songs


@hookimpl
def evaluate(run, data, samples):
    from .metrics import judge

    return judge(samples, data.extras["songs"].train, run.config.evaluate)


@hookimpl
def item_metrics(run, data, samples):
    """One row per song: its lines with their rhyme letters, schemes, scheme F1, rhyme
    density, line count, syllables and copying (what the report shows per song)."""
    from .metrics import song_rows

    return song_rows(samples, data.extras["songs"].train, run.config.evaluate)


@hookimpl
def report(run, data, results):
    from .report import sections

    return sections(run, data.extras["songs"], results, data.extras.get("notes", []))
