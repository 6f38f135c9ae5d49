"""Molecule sets: read (.smi, .csv, .sdf, the shipped sets), standardise, dedupe, split."""

from __future__ import annotations

import gzip
import io
import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path

from tlgen import TlgenError
from tlgen.files import check_data_file, read_data, read_text

SMILES_COLUMNS = ("smiles", "canonical_smiles", "smi", "molecule")


@dataclass
class Row:
    """One input record: where it came from, its SMILES and its raw property text."""

    where: int
    smiles: str | None
    value: str | None = None


@dataclass
class Source:
    """Rows read from one file; ``unit`` is "line" or "record" (for messages)."""

    name: str
    rows: list[Row]
    unit: str = "line"
    property_name: str | None = None


@dataclass
class MoleculeSet:
    """Clean, canonical, unique molecules with their property (NaN where absent) and origin."""

    smiles: list[str]
    values: list[float]
    where: list[int]
    notes: list[str] = field(default_factory=list)

    def subset(self, index: list[int]) -> MoleculeSet:
        return MoleculeSet([self.smiles[i] for i in index], [self.values[i] for i in index],
                           [self.where[i] for i in index])

    def has_values(self) -> bool:
        return any(not math.isnan(v) for v in self.values)


def package_file(package: str, relative: str) -> Path:
    """A data file shipped inside an installed package (found without importing it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TlgenError(f"package {package!r} is not installed; pip install tlgen[molecules]")
    path = Path(spec.submodule_search_locations[0]) / relative
    if not path.is_file():
        raise TlgenError(f"{path} is missing from the installed {package!r} package")
    return path


def moses_smiles(split: str = "train", limit: int | None = None) -> list[str]:
    """SMILES of a MOSES split (train, test, test_scaffolds) from the molsets wheel."""
    path = package_file("moses", f"dataset/data/{split}.csv.gz")
    with gzip.open(path, "rt") as handle:
        next(handle)
        out = []
        for line in handle:
            if limit is not None and len(out) >= limit:
                break
            out.append(line.split(",", 1)[0].strip())
    return out


def chembl2321810() -> Source:
    """The ChEMBL series shipped in the rdkit wheel, with pIC50."""
    import pandas as pd

    smi = package_file("rdkit", "Contrib/FreeWilson/data/CHEMBL2321810.smi")
    act = pd.read_csv(package_file("rdkit", "Contrib/FreeWilson/data/CHEMBL2321810_act.csv"),
                      dtype=str)
    values = dict(zip(act["Name"], act["Act"]))
    rows = []
    for number, line in enumerate(smi.read_text().splitlines(), start=1):
        parts = line.split()
        if parts:
            rows.append(Row(number, parts[0], values.get(parts[1]) if len(parts) > 1 else None))
    return Source(str(smi), rows, property_name="pIC50")


def read_file(path: str | Path, smiles_column: str | None = None,
              property_column: str | None = None) -> Source:
    """Rows of a .smi, .csv/.tsv (optionally .gz) or .sdf file."""
    path = check_data_file(path, "data file", "data.source")
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    kind = suffixes[-1] if suffixes else ""
    if kind == ".sdf":
        return _read_sdf(path, property_column)
    if kind in (".csv", ".tsv"):
        return _read_table(path, smiles_column, property_column)
    if kind in (".smi", ".smiles", ".txt"):
        return _read_smi(path, property_column)
    raise TlgenError(f"data file {path}: unknown format {kind!r}; use .smi, .csv, .tsv or .sdf")


def _read_sdf(path: Path, property_column: str | None) -> Source:
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    quiet = BlockLogs()  # unreadable records are counted, not logged; restored after
    rows = []
    with io.BytesIO(read_data(path)) as handle:
        for number, mol in enumerate(Chem.ForwardSDMolSupplier(handle), start=1):
            if mol is None:
                rows.append(Row(number, None))
                continue
            has = property_column and mol.HasProp(property_column)
            value = mol.GetProp(property_column) if has else None
            rows.append(Row(number, Chem.MolToSmiles(mol), value))
    del quiet
    return Source(str(path), rows, unit="record", property_name=property_column)


def _read_table(path: Path, smiles_column: str | None, property_column: str | None) -> Source:
    import pandas as pd

    sep = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
    try:
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError, EOFError,
            OSError) as exc:
        raise TlgenError(f"data file {path}: cannot read as a table ({str(exc).strip()})") from None
    column = _pick_column(path, list(table.columns), smiles_column, "data.smiles_column")
    if property_column is not None:
        _pick_column(path, list(table.columns), property_column, "data.property_column")
    rows = [
        Row(i + 2, smiles or None, table[property_column].iloc[i] if property_column else None)
        for i, smiles in enumerate(table[column])
    ]
    return Source(str(path), rows, property_name=property_column)


def _pick_column(path: Path, columns: list[str], wanted: str | None, key: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise TlgenError(f"data file {path}: no column {wanted!r} (columns: "
                             f"{', '.join(columns)}); fix {key}")
        return wanted
    for column in columns:
        if column.strip().lower() in SMILES_COLUMNS:
            return column
    raise TlgenError(f"data file {path}: no SMILES column (columns: {', '.join(columns)}); "
                     f"set {key}")


def _read_smi(path: Path, property_column: str | None) -> Source:
    lines = read_text(path).splitlines()
    first = lines[0].split() if lines else []
    header = bool(first) and first[0].lower() in SMILES_COLUMNS
    index = 1
    if property_column is not None:
        if header and property_column in first:
            index = first.index(property_column)
        elif property_column.isdigit():
            index = int(property_column) - 1
        else:
            raise TlgenError(f"data file {path}: no column {property_column!r}; set "
                             "data.property_column to a header name or a 1-based column number")
    rows = []
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts or parts[0].startswith("#") or (header and number == 1):
            continue
        value = parts[index] if property_column is not None and len(parts) > index else None
        rows.append(Row(number, parts[0], value))
    return Source(str(path), rows, property_name=property_column)


def clean(source: Source, standardize: bool = True, max_chars: int | None = None) -> MoleculeSet:
    """Parse, standardise (RDKit charge parent), canonicalise and dedupe; notes say what was
    dropped. Rows over ``max_chars`` characters are dropped before RDKit parses them."""
    from rdkit import Chem
    from rdkit.Chem.MolStandardize import rdMolStandardize
    from rdkit.rdBase import BlockLogs

    fits = [not max_chars or len(r.smiles or "") <= max_chars for r in source.rows]
    rows = [r for r, ok in zip(source.rows, fits) if ok]
    long = [r.where for r, ok in zip(source.rows, fits) if not ok]
    quiet = BlockLogs()  # invalid rows are counted in the notes, not logged; restored after
    invalid, non_numeric, duplicates = [], [], 0
    seen: dict[str, int] = {}
    out = MoleculeSet([], [], [])
    for row in rows:
        mol = Chem.MolFromSmiles(row.smiles) if row.smiles else None
        if mol is not None and standardize:
            mol = rdMolStandardize.ChargeParent(mol)
        if mol is None or mol.GetNumAtoms() == 0:
            invalid.append(row.where)
            continue
        smiles = Chem.MolToSmiles(mol)
        value = _number(row.value)
        if row.value not in (None, "") and math.isnan(value):
            non_numeric.append(row.where)
        if smiles in seen:
            duplicates += 1
            continue
        seen[smiles] = len(out.smiles)
        out.smiles.append(smiles)
        out.values.append(value)
        out.where.append(row.where)
    del quiet
    out.notes = _notes(source, out, long, max_chars, invalid, non_numeric, duplicates)
    return out


def _notes(source: Source, out: MoleculeSet, long: list[int], max_chars: int | None,
           invalid: list[int], non_numeric: list[int], duplicates: int) -> list[str]:
    """What cleaning dropped, one line each; a set with no usable molecule is an error."""
    name, unit = Path(source.name).name, source.unit
    if not out.smiles:
        fitting = f" (and at most {max_chars} characters long)" if long else ""
        raise TlgenError(f"data file {source.name}: none of its {len(source.rows)} rows is a valid "
                         f"molecule{fitting}; check data.source and data.smiles_column")
    notes = []
    if long:
        notes.append(f"{name}: skipped {len(long)} rows longer than {max_chars} characters, "
                     f"more than the backbone's context holds ({unit}s {_few(long)})")
    if invalid:
        notes.append(f"{name}: skipped {len(invalid)} invalid molecules ({unit}s {_few(invalid)})")
    if non_numeric:
        if len(non_numeric) == len(source.rows) - len(invalid) - len(long):
            raise TlgenError(f"data file {source.name}: property column "
                             f"{source.property_name!r} has no numbers ({unit}s "
                             f"{_few(non_numeric)}); fix data.property_column")
        notes.append(f"{name}: ignored {len(non_numeric)} non-numeric {source.property_name} "
                     f"values ({unit}s {_few(non_numeric)})")
    if duplicates:
        notes.append(f"{name}: merged {duplicates} duplicate molecules (first kept)")
    return notes


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _few(numbers: list[int], limit: int = 5) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f", ... {len(numbers) - limit} more" if len(numbers) > limit else "")


def split(smiles: list[str], fractions: tuple[float, float, float], method: str = "scaffold",
          seed: int = 0) -> tuple[list[int], list[int], list[int]]:
    """Train/validation/test indices by Bemis-Murcko scaffold (deepchem) or at random."""
    import numpy as np

    from ..quiet import deepchem

    dc = deepchem()
    dataset = dc.data.NumpyDataset(X=np.zeros((len(smiles), 1)), ids=np.array(smiles))
    splitter = dc.splits.ScaffoldSplitter() if method == "scaffold" else dc.splits.RandomSplitter()
    train, valid, test = splitter.split(dataset, *fractions, seed=seed)
    return [list(map(int, part)) for part in (train, valid, test)]


def restricted_random_smiles(smiles: str, rng) -> str:
    """A random SMILES of the molecule, the "restricted" variant of Arus-Pous et al. (2019)
    that REINVENT trains on: the atoms renumbered at random, then written by RDKit's
    non-canonical writer (which keeps its branch and ring-closure preferences, unlike
    ``doRandom``). Stereo is kept; ``rng`` (a numpy Generator) draws the atom order."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    order = rng.permutation(mol.GetNumAtoms()).tolist()
    return Chem.MolToSmiles(Chem.RenumberAtoms(mol, order), canonical=False)
