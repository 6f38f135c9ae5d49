"""From the ``[data]`` config to split molecule sets, and from SMILES to token sequences.

One path: ``load`` reads, cleans and splits (rows too long for any tokenization to fit the
context are dropped before RDKit parses them), ``fit`` keeps what the tokenizer and context
can take and encodes it; both add notes on what they dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tlgen import TlgenError
from tlgen.data import TokenSequences
from tlgen.lm import encode_texts

from ..config import MoleculesData
from ..tokenizer import COMMON_TOKENS
from . import molecules as data

PARTS = ("train", "validation", "test")


@dataclass
class Splits:
    """Train / validation / test molecule sets, what cleaning dropped, and (after ``fit``)
    their token sequences by part."""

    train: data.MoleculeSet
    validation: data.MoleculeSet
    test: data.MoleculeSet
    source: str
    notes: list[str] = field(default_factory=list)
    sequences: dict[str, list[list[int]]] = field(default_factory=dict)


def char_limit(context: int, tokenizer=None) -> int:
    """Characters beyond which a SMILES cannot fit ``context`` tokens with BOS and EOS: a token
    covers at most as many characters as the longest vocabulary entry (no tokenizer yet: the
    atom-level vocabulary a new prior starts from)."""
    entries = list(COMMON_TOKENS)
    if tokenizer is not None:
        special = set(tokenizer.all_special_tokens)
        entries += [t for t in tokenizer.get_vocab() if t not in special]
    return (context - 2) * max(len(t) for t in entries)


def load(cfg: MoleculesData, seed: int = 0, max_chars: int | None = None) -> Splits:
    """The split molecule sets the config names; rows over ``max_chars`` characters are
    dropped (and noted) before any parsing."""
    if cfg.source == "moses":
        return _moses(cfg)
    molecules = data.clean(_source(cfg), standardize=cfg.standardize, max_chars=max_chars)
    if cfg.max_molecules is not None:
        molecules = molecules.subset(list(range(min(cfg.max_molecules, len(molecules.smiles)))))
    name = cfg.source
    if len(molecules.smiles) < cfg.min_molecules:
        raise TlgenError(f"data {name}: only {len(molecules.smiles)} valid molecules, the "
                         f"{cfg.split} split needs at least {cfg.min_molecules}; add molecules "
                         "or lower data.min_molecules")
    parts = data.split(molecules.smiles, cfg.fractions, cfg.split, seed)
    if not all(parts):
        raise TlgenError(f"data {name}: the {cfg.split} split left an empty part (sizes "
                         f"{[len(p) for p in parts]}); add molecules or change data.fractions")
    train, valid, test = (molecules.subset(p) for p in parts)
    return Splits(train, valid, test, name, molecules.notes)


def fit(splits: Splits, tokenizer, context: int) -> Splits:
    """The molecules of each part that the backbone can learn, with their token sequences."""
    notes, parts, sequences = list(splits.notes), {}, {}
    for name in PARTS:
        kept, encoded, dropped = usable(tokenizer, getattr(splits, name), context,
                                        f"{splits.source} {name}")
        parts[name], sequences[name], notes = kept, encoded, notes + dropped
    if not sequences["train"]:
        raise TlgenError(f"data {splits.source}: no training molecule fits the backbone "
                         "(vocabulary or context); see the messages above")
    return Splits(parts["train"], parts["validation"], parts["test"], splits.source, notes,
                  sequences)


class RandomizedSequences(TokenSequences):
    """Training sequences where a ``share`` of the rows is, each epoch, a fresh restricted
    random SMILES of the molecule instead of its canonical form (REINVENT's randomised-SMILES
    transfer learning and pretraining). What a row holds depends only on (seed, epoch, row):
    a resumed run sees the same strings. A random form that the backbone cannot take (a
    token outside its vocabulary, longer than its context) falls back to the canonical one."""

    def __init__(self, smiles: list[str], sequences: list[list[int]], tokenizer, context: int,
                 share: float = 1.0, seed: int = 0) -> None:
        super().__init__(sequences)
        self.smiles, self.tokenizer, self.context = smiles, tokenizer, context
        self.share, self.seed, self.epoch = share, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> list[int]:
        import numpy as np

        rng = np.random.default_rng([self.seed, self.epoch, index])
        if rng.random() >= self.share:
            return self.sequences[index]
        form = data.restricted_random_smiles(self.smiles[index], rng)
        sequence = encode_texts(self.tokenizer, [form])[0]
        if unknown(self.tokenizer, sequence) or len(sequence) > self.context:
            return self.sequences[index]
        return sequence


def _source(cfg: MoleculesData) -> data.Source:
    if cfg.source == "chembl2321810":
        return data.chembl2321810()
    if cfg.source == "egfr":
        return data.read_file(data.package_file("rdkit", "Contrib/PBF/testData/egfr.sdf"))
    return data.read_file(cfg.source, cfg.smiles_column, cfg.property_column)


def _moses(cfg: MoleculesData) -> Splits:
    """MOSES train for training; MOSES test cut into validation and test (already clean)."""
    train = data.moses_smiles("train", cfg.max_molecules)
    held = data.moses_smiles("test", 2 * cfg.validation_size)
    cut = cfg.validation_size
    return Splits(_plain(train), _plain(held[:cut]), _plain(held[cut:]), "MOSES")


def _plain(smiles: list[str]) -> data.MoleculeSet:
    return data.MoleculeSet(smiles, [float("nan")] * len(smiles), list(range(2, len(smiles) + 2)))


def unknown(tokenizer, sequence: list[int]) -> bool:
    """Whether an encoded ``BOS tokens EOS`` sequence holds a token outside the vocabulary."""
    unk = tokenizer.unk_token_id
    return unk is not None and unk in sequence[1:-1]


def usable(tokenizer, molecules: data.MoleculeSet, context: int, label: str
           ) -> tuple[data.MoleculeSet, list[list[int]], list[str]]:
    """Molecules the model can learn: no unknown token, within the context; notes on the rest."""
    sequences = encode_texts(tokenizer, molecules.smiles)
    outside = [i for i, s in enumerate(sequences) if unknown(tokenizer, s)]
    long = [i for i, s in enumerate(sequences) if len(s) > context]
    if not outside and not long:
        return molecules, sequences, []
    notes = []
    if outside:
        examples = ", ".join(molecules.smiles[i] for i in outside[:3])
        notes.append(f"{label}: skipped {len(outside)} molecules with tokens outside the "
                     f"backbone's vocabulary (e.g. {examples})")
    if long:
        notes.append(f"{label}: skipped {len(long)} molecules longer than the model's "
                     f"{context}-token context (e.g. line/record {molecules.where[long[0]]})")
    keep = sorted(set(range(len(sequences))) - set(outside) - set(long))
    return molecules.subset(keep), [sequences[i] for i in keep], notes
