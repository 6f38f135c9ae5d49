"""From the ``[data]`` config to split molecule sets, and from SMILES to token sequences."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache

from tlgen import TlgenError

from . import data
from .config import MoleculesData


@dataclass
class Splits:
    """Train / validation / test molecule sets and the notes on what cleaning dropped."""

    train: data.MoleculeSet
    validation: data.MoleculeSet
    test: data.MoleculeSet
    source: str
    notes: list[str] = field(default_factory=list)


def load(cfg: MoleculesData, seed: int = 0) -> Splits:
    """The split molecule sets the config names (cached: the backbone and the data hooks share it)."""
    return _load(cfg.model_dump_json(), seed)


@lru_cache(maxsize=2)
def _load(cfg_json: str, seed: int) -> Splits:
    cfg = MoleculesData(**json.loads(cfg_json))
    if cfg.source == "moses":
        return _moses(cfg)
    molecules = data.clean(_source(cfg), standardize=cfg.standardize)
    if cfg.max_molecules is not None:
        molecules = molecules.subset(list(range(min(cfg.max_molecules, len(molecules.smiles)))))
    name = cfg.source
    if len(molecules.smiles) < cfg.min_molecules:
        raise TlgenError(f"data {name}: only {len(molecules.smiles)} valid molecules, the "
                         f"{cfg.split} split needs at least {cfg.min_molecules}; add molecules "
                         "or lower data.min_molecules")
    parts = data.split(molecules.smiles, cfg.fractions, cfg.split, seed)
    if not all(parts):
        raise TlgenError(f"data {name}: the {cfg.split} split left an empty part "
                         f"(sizes {[len(p) for p in parts]}); add molecules or change data.fractions")
    train, valid, test = (molecules.subset(p) for p in parts)
    return Splits(train, valid, test, name, molecules.notes)


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


def encode(tokenizer, smiles: list[str], chunk: int = 20000) -> list[list[int]]:
    """``BOS tokens EOS`` ids for each SMILES, whatever the tokenizer adds by itself."""
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    out = []
    for start in range(0, len(smiles), chunk):
        ids = tokenizer(smiles[start:start + chunk], add_special_tokens=False,
                        return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        out += [[bos, *row, eos] for row in ids]
    return out


def usable(tokenizer, molecules: data.MoleculeSet, context: int, label: str
           ) -> tuple[data.MoleculeSet, list[list[int]], list[str]]:
    """Molecules the model can learn: no unknown token, within the context; notes on the rest."""
    sequences = encode(tokenizer, molecules.smiles)
    unk = tokenizer.unk_token_id
    unknown = [i for i, s in enumerate(sequences) if unk is not None and unk in s[1:-1]]
    long = [i for i, s in enumerate(sequences) if len(s) > context]
    if not unknown and not long:
        return molecules, sequences, []
    notes = []
    if unknown:
        examples = ", ".join(molecules.smiles[i] for i in unknown[:3])
        notes.append(f"{label}: skipped {len(unknown)} molecules with tokens outside the "
                     f"backbone's vocabulary (e.g. {examples})")
    if long:
        notes.append(f"{label}: skipped {len(long)} molecules longer than the model's "
                     f"{context}-token context (e.g. line/record {molecules.where[long[0]]})")
    keep = sorted(set(range(len(sequences))) - set(unknown) - set(long))
    return molecules.subset(keep), [sequences[i] for i in keep], notes
