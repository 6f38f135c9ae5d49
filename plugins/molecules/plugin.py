"""The molecules domain: a SMILES GPT prior, fine-tuned on a ChEMBL series, scored with RDKit and deepchem.

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
    """Fine-tuning recipe: embeddings and the first half of the blocks frozen; about eight
    epochs of the 813-molecule series, stopped early when the validation loss turns up."""
    return {
        "train": {"max_steps": 100, "batch_size": 64, "lr": 1e-3, "warmup_steps": 10,
                  "eval_every": 20, "save_every": 50, "early_stopping_patience": 3},
        "freeze": {"strategy": "freeze-first:2"},
    }


@hookimpl
def load_backbone(run, path):
    from tlgen.types import Backbone

    from . import backbone, dataset

    cfg = run.config.backbone
    if cfg.from_scratch:
        corpus = dataset.load(run.config.data, run.config.seed).train.smiles
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
    from tlgen.data import CausalLMCollator, TokenSequences
    from tlgen.types import DataSplits

    from . import dataset, sampling

    cfg = run.config.data
    splits = dataset.load(cfg, run.config.seed)
    context = sampling.context_size(backbone.model)
    tokenizer = backbone.tokenizer
    notes = list(splits.notes)
    parts = {}
    for name in ("train", "validation", "test"):
        molecules, sequences, dropped = dataset.usable(
            tokenizer, getattr(splits, name), context, f"{splits.source} {name}")
        notes += dropped
        parts[name] = (molecules, sequences)
    train_mols, train_seqs = parts["train"]
    if not train_seqs:
        raise TlgenError(f"data {splits.source}: no training molecule fits the backbone "
                         "(vocabulary or context); see the messages above")
    if cfg.augment:
        from .data import randomized

        extra = dataset.encode(tokenizer, randomized(train_mols.smiles, cfg.augment, run.config.seed))
        train_seqs = train_seqs + [s for s in extra if len(s) <= context and
                                   tokenizer.unk_token_id not in s[1:-1]]
    notes.append(f"data {splits.source}: {len(train_mols.smiles)} train, "
                 f"{len(parts['validation'][0].smiles)} validation, "
                 f"{len(parts['test'][0].smiles)} test molecules "
                 f"({'MOSES test' if cfg.source == 'moses' else cfg.split} split); "
                 f"{len(train_seqs)} training sequences")
    for note in notes:
        run.log(note)
    if run.is_main:
        (run.dir / "data_notes.txt").write_text("".join(n + "\n" for n in notes))
    return DataSplits(
        train=TokenSequences(train_seqs),
        validation=TokenSequences(parts["validation"][1]),
        test=TokenSequences(parts["test"][1]),
        collate_fn=CausalLMCollator(tokenizer.pad_token_id),
        lengths=[len(s) for s in train_seqs],
        extras={"molecules": {k: v[0] for k, v in parts.items()}},
    )


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
def loss(run, model, batch):
    """Core's loss, except that with ``data.random_positions`` a share of the training rows
    start at a random position of the context (drawn from torch's RNG, which checkpoints
    keep, so a resumed run draws the same offsets)."""
    share = run.config.data.random_positions
    if not (share and model.training):
        return None  # core's default: model(**batch).loss
    from .sampling import random_position_ids

    config = getattr(model, "module", model).config
    return model(**batch, position_ids=random_position_ids(batch["input_ids"], config, share)).loss


@hookimpl
def sample(run, backbone, n, stage):
    from . import sampling

    cfg = run.config.sample
    smiles = sampling.generate(
        backbone.model, backbone.tokenizer, n, batch_size=cfg.batch_size,
        temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p,
        max_tokens=cfg.max_tokens, unique=cfg.unique, seed=cfg.seed, bf16=cfg.bf16)
    out = run.dir / "samples" / f"{stage}.smi"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(s + "\n" for s in smiles))
    return smiles


@hookimpl
def evaluate(run, backbone, samples, data, stage):
    from .evaluation import evaluate_samples

    return evaluate_samples(run, backbone, samples, data, stage)


@hookimpl
def report(run, metrics):
    from .reporting import sections

    return sections(run, metrics)
