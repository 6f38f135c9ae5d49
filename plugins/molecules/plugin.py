"""The molecules domain: a SMILES GPT prior, fine-tuned on a ChEMBL series, scored with RDKit
and deepchem.

Light on import: the heavy modules (torch, rdkit, transformers, deepchem) load inside the hooks.
"""

from __future__ import annotations

from typing import Any

from tlgen import TlgenError, hookimpl


@hookimpl
def config_schema() -> dict[str, type]:
    from .config import SECTIONS

    return SECTIONS


@hookimpl
def default_train_config() -> dict[str, Any]:
    """Fine-tuning recipe: embeddings and the first half of the blocks frozen; about twelve
    epochs of the 813-molecule series at lr 5e-4, stopped early when the validation loss
    turns up (measured on the default series, 1,000 samples each: lr 1e-3 / 100 steps valid
    0.829, test NLL 0.301, similarity to the held-out series 0.589; 5e-4 / 150: 0.846,
    0.296, 0.579; 3e-4 / 200: 0.878, 0.296, 0.564). Training on past the early stop raises
    validity only by copying the series (stage-6 prior, 300 steps: valid 0.903, novelty 0.69,
    test NLL 0.321; 500: 0.918, 0.50, 0.359). Held-out losses read at most 32
    batches (2,048 molecules at batch 64): MOSES-sized test sets stay cheap."""
    return {
        "train": {"max_steps": 150, "batch_size": 64, "lr": 5e-4, "warmup_steps": 10,
                  "eval_every": 20, "save_every": 50, "early_stopping_patience": 3,
                  "heldout_batches": 32},
        "freeze": {"strategy": "freeze-first:2"},
    }


@hookimpl
def load_backbone(run, path):
    from tlgen.types import Backbone

    from . import backbone
    from .data import sequences

    cfg = run.config.backbone
    if cfg.from_scratch:
        limit = sequences.char_limit(cfg.n_positions)
        corpus = sequences.load(run.config.data, run.config.seed, limit).train.smiles
        model, tokenizer = backbone.new_prior(
            corpus, n_layer=cfg.n_layer, n_embd=cfg.n_embd, n_head=cfg.n_head,
            n_positions=cfg.n_positions, n_inner=cfg.n_inner)
        run.log(f"new GPT-2 prior: {model.num_parameters() / 1e6:.2f}M parameters, "
                f"vocabulary of {len(tokenizer)} tokens")
        return Backbone(model=model.to(run.device), tokenizer=tokenizer, name="gpt2-smiles")
    where = path or cfg.path or backbone.SHIPPED_PRIOR
    if where == backbone.SHIPPED_PRIOR and not (where / "config.json").is_file():
        raise TlgenError(f"the shipped prior is missing from {where}; reinstall tlgen or set "
                         "backbone.path (or backbone.from_scratch = true)")
    model, tokenizer = backbone.load_pretrained(where)
    return Backbone(model=model.to(run.device), tokenizer=tokenizer, name=str(where))


@hookimpl
def prepare_data(run, backbone):
    """Clean, split and tokenize the series; ``extras``: the molecule sets, the notes on what
    was dropped (shown in the report), what samples are measured against (``evaluation``,
    built on first use) and, with ``[scoring]`` components, the ``scorer``."""
    from tlgen.data import CausalLMCollator, TokenSequences
    from tlgen.types import DataSplits

    from . import sampling
    from .data import sequences
    from .metrics.stages import References

    cfg, tokenizer = run.config.data, backbone.tokenizer
    if cfg.random_positions and run.config.train.pack:
        raise TlgenError("data.random_positions and train.pack cannot be combined: a packed "
                         "row already sets each molecule's positions; set one of them to 0")
    context = sampling.context_size(backbone.model)
    splits = sequences.load(cfg, run.config.seed, sequences.char_limit(context, tokenizer))
    splits = sequences.fit(splits, tokenizer, context)
    train = splits.sequences["train"]
    notes = [*splits.notes, f"data {splits.source}: {len(splits.train.smiles)} train, "
             f"{len(splits.validation.smiles)} validation, {len(splits.test.smiles)} test "
             f"molecules ({'MOSES test' if cfg.source == 'moses' else cfg.split} split); "
             f"{len(train)} training sequences"
             + (f", {cfg.randomize:.0%} of them a fresh random SMILES each epoch"
                if cfg.randomize else "")]
    for note in notes:
        run.log(note)
    molecules = {name: getattr(splits, name) for name in sequences.PARTS}
    references = References(run.config.evaluate, molecules, run.config.seed, run.log)
    data = DataSplits(
        train=sequences.RandomizedSequences(splits.train.smiles, train, tokenizer, context,
                                          cfg.randomize, run.config.seed)
        if cfg.randomize else TokenSequences(train),
        validation=TokenSequences(splits.sequences["validation"]),
        test=TokenSequences(splits.sequences["test"]),
        collate_fn=CausalLMCollator(tokenizer.pad_token_id),
        lengths=[len(s) for s in train],
        extras={"molecules": molecules, "notes": notes, "evaluation": references},
    )
    if run.config.train.mode == "reward" or run.config.scoring.components:
        # built here, so a bad scoring setup stops the run before any training
        from .scoring import build

        data.extras["scorer"] = build(run.config.scoring,
                                      lambda: references.activity["property_model"],
                                      molecules["train"].smiles)
    return data


@hookimpl
def layer_map(run, backbone):
    """Core's causal-LM map, except that learned position embeddings stay trainable: a prior
    pretrained on MOSES (at most 52 tokens) never trained the positions that a focused
    series' longer SMILES reach (CHEMBL2321810: 55-66), and frozen they break ring closures
    and branches late in the string (fine-tuned validity 0.25 with them frozen)."""
    from tlgen.freeze import causal_lm_layer_map

    found = causal_lm_layer_map(backbone.model)
    positions = [n for n in found.embeddings if n.endswith(("wpe", "embed_positions"))]
    found.embeddings = [n for n in found.embeddings if n not in positions]
    found.modules_to_save = [*found.modules_to_save, *positions]
    return found


@hookimpl
def loss(run, backbone, model, batch, training):
    """Core's loss, except that with ``data.random_positions`` a share of the training rows
    start at a random position of the context (drawn from torch's RNG, which checkpoints
    keep, so a resumed run draws the same offsets); held-out batches keep position 0."""
    share = run.config.data.random_positions
    if not (share and training):
        return None  # core's default: model(**batch).loss
    from .sampling import random_position_ids

    positions = random_position_ids(batch["input_ids"], backbone.model.config, share)
    return model(**batch, position_ids=positions).loss


@hookimpl
def sample(run, backbone, n, stage):
    """``n`` SMILES, also written to ``samples/<stage>/samples.smi`` (not when served)."""
    from . import sampling

    cfg = run.config.sample
    smiles = sampling.generate(
        backbone.model, backbone.tokenizer, n, batch_size=cfg.batch_size,
        temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p,
        max_tokens=cfg.max_tokens, unique=cfg.unique, seed=cfg.seed, bf16=cfg.bf16,
        pool=kv_pool(backbone))
    if run.writes_samples:
        (run.samples_dir(stage) / "samples.smi").write_text("".join(s + "\n" for s in smiles))
    return smiles


@hookimpl
def sample_ids(run, backbone, model, n, temperature, max_tokens):
    """The reward stage's draws, with the same fast sampler as ``sample`` (``sample.bf16``
    and ``sample.batch_size`` apply)."""
    from .sampling import draw_ids

    cfg = run.config.sample
    return draw_ids(model, backbone.tokenizer, n, temperature=temperature,
                    max_tokens=max_tokens, batch_size=cfg.batch_size, bf16=cfg.bf16,
                    pool=kv_pool(backbone))


def kv_pool(backbone):
    """The sampler's cache buffers, kept with the backbone from one call to the next (a
    server's calls of a few hundred SMILES, the reward stage's per-step draws): fresh
    memory is paid for once per process, not per call. Calls come from one thread at a
    time (the trainer's, or the server's sampling thread)."""
    from .sampling import KVPool

    return backbone.extras.setdefault("kv_pool", KVPool())


@hookimpl
def decode(backbone, ids):
    """SMILES from the reward stage's token ids (the sampler's decoding)."""
    from .sampling import decode as to_smiles

    return to_smiles(backbone.tokenizer, ids)


@hookimpl
def reward(run, data, samples):
    """Scores from ``[scoring]`` after the diversity filter; its memory is in ``run.state``."""
    from .reward import score_batch

    return score_batch(run, data.extras["scorer"], samples)


@hookimpl
def evaluate(run, data, samples):
    from .metrics.stages import evaluate_samples

    return evaluate_samples(run, data, samples)


@hookimpl
def item_metrics(run, data, samples, stage):
    """One row per sample (validity, canonical SMILES, properties, similarity, novelty,
    predicted activity, ``[scoring]`` components); also ``samples/<stage>/scores.csv``
    (not when served)."""
    from .metrics.stages import sample_rows

    return sample_rows(run, data, samples, stage)


@hookimpl
def metric_names(config):
    """What ``evaluate`` may report under ``config`` (``tlgen sweep`` checks its objectives
    against these before any trial); core adds the held-out losses."""
    names = ["valid", "unique", "unique@1k", "unique@10k", "novelty", "IntDiv", "IntDiv2",
             "Filters", "SNN/Test", "Frag/Test", "Scaf/Test", "QED", "SA", "logP", "MW",
             "max_sim_train", "max_sim_test", "PAINS", "Brenk", "scaffold_recovery"]
    if config.evaluate.fcd:
        names.append("FCD/Test")
    if config.evaluate.property_model:
        names += ["pred_mean", "pred_active", "property_model_r2"]
    return names


@hookimpl
def report(run, data, results):
    """Sections from the stages' rows (``StageResult.items``) and the held-out series'."""
    from .metrics.stages import write
    from .report import sections, stage_table

    scores = {"series": data.extras["evaluation"].series}
    write(run.samples_dir("series") / "scores.csv", scores["series"])
    scores |= {stage: stage_table(result.items) for stage, result in results.items()
               if result.items}
    if run.config.train.mode != "reward":
        return sections(run.dir, scores, data.extras.get("notes", []))
    from .report import REWARD_STAGES, reward_sections

    return [*reward_sections(run, set(data.extras["molecules"]["train"].smiles)),
            *sections(run.dir, scores, data.extras.get("notes", []), REWARD_STAGES)]
