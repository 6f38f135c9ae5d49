"""Reading, cleaning and splitting molecule sets; bad input gives one clear line, good rows stay."""

import math

import pytest
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from tlgen import TlgenError
from tlgen.lm import encode_texts
from tlgen.plugins.molecules.data import molecules as data
from tlgen.plugins.molecules.data import sequences as dataset
from tlgen.plugins.molecules.config import MoleculesData
from tlgen.plugins.molecules.tokenizer import smiles_tokenizer


def write(path, text):
    path.write_text(text)
    return path


def test_invalid_rows_are_skipped_with_line_numbers(tmp_path):
    path = write(tmp_path / "set.smi", "CCO a\nnot_a_smiles b\nc1ccccc1 c\n\nC1CC d\nCCN e\n")
    molecules = data.clean(data.read_file(path))
    assert molecules.smiles == ["CCO", "c1ccccc1", "CCN"]
    assert molecules.where == [1, 3, 6]
    assert molecules.notes == ["set.smi: skipped 2 invalid molecules (lines 2, 5)"]


def test_standardise_canonicalise_and_dedupe(tmp_path):
    path = write(tmp_path / "set.smi", "CC(=O)[O-].[Na+]\nOC(C)=O\nC(C)O\n")
    molecules = data.clean(data.read_file(path))
    assert molecules.smiles == ["CC(=O)O", "CCO"]
    assert "merged 1 duplicate" in molecules.notes[0]


def test_csv_columns_and_missing_smiles_column(tmp_path):
    path = write(tmp_path / "set.csv", "id,Structure,pIC50\n1,CCO,5.5\n2,CCN,6\n")
    with pytest.raises(TlgenError, match=r"no SMILES column \(columns: id, Structure, pIC50\); "
                                         r"set data.smiles_column"):
        data.read_file(path)
    molecules = data.clean(data.read_file(path, "Structure", "pIC50"))
    assert molecules.smiles == ["CCO", "CCN"] and molecules.values == [5.5, 6.0]
    with pytest.raises(TlgenError, match="no column 'IC50'"):
        data.read_file(path, "Structure", "IC50")


def test_non_numeric_property_values(tmp_path):
    path = write(tmp_path / "set.csv", "smiles,act\nCCO,5.5\nCCN,high\nCCC,7\n")
    molecules = data.clean(data.read_file(path, property_column="act"))
    assert len(molecules.smiles) == 3 and math.isnan(molecules.values[1])
    assert molecules.notes == ["set.csv: ignored 1 non-numeric act values (lines 3)"]
    words = write(tmp_path / "words.csv", "smiles,act\nCCO,high\nCCN,low\n")
    with pytest.raises(TlgenError, match="property column 'act' has no numbers"):
        data.clean(data.read_file(words, property_column="act"))


def test_sdf_with_a_broken_record(tmp_path):
    block = Chem.MolToMolBlock(Chem.MolFromSmiles("CCO")) + "> <act>\n6.1\n\n$$$$\n"
    broken = "broken\n  record\n\n$$$$\n"
    path = write(tmp_path / "set.sdf", block + broken + block.replace("CCO", "x"))
    source = data.read_file(path, property_column="act")
    molecules = data.clean(source)
    assert molecules.smiles == ["CCO"] and molecules.values == [6.1]
    assert molecules.notes[0] == "set.sdf: skipped 1 invalid molecules (records 2)"


def test_all_invalid_file(tmp_path):
    path = write(tmp_path / "bad.smi", "xyz\nfoo\n")
    with pytest.raises(TlgenError, match="none of its 2 rows is a valid molecule"):
        data.clean(data.read_file(path))


def test_set_too_small_for_the_split(tmp_path):
    path = write(tmp_path / "small.smi", "CCO\nCCN\nCCC\n")
    with pytest.raises(TlgenError, match="only 3 valid molecules, the scaffold split needs at "
                                         "least 30"):
        dataset.load(MoleculesData(source=str(path)))


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(TlgenError, match="does not exist; fix data.source"):
        data.read_file(tmp_path / "nope.smi")
    with pytest.raises(TlgenError, match="unknown format '.xlsx'"):
        data.read_file(write(tmp_path / "set.xlsx", "CCO\n"))


def test_default_series_has_pic50_and_scaffold_split_is_disjoint():
    splits = dataset.load(MoleculesData())
    sizes = [len(s.smiles) for s in (splits.train, splits.validation, splits.test)]
    assert sum(sizes) == 1017 and sizes[0] > 700 and min(sizes) > 50
    assert not any(math.isnan(v) for v in splits.train.values)
    scaffold = lambda s: MurckoScaffold.MurckoScaffoldSmiles(s)  # noqa: E731
    train, test = ({scaffold(s) for s in part.smiles} for part in (splits.train, splits.test))
    assert not train & test


def test_restricted_random_smiles_keep_rdkit_writing_rules():
    import numpy as np

    rng = np.random.default_rng(0)
    forms = {data.restricted_random_smiles("CC(=O)Oc1ccccc1C(=O)O", rng) for _ in range(30)}
    assert len(forms) > 5 and {Chem.CanonSmiles(f) for f in forms} == {"CC(=O)Oc1ccccc1C(=O)O"}
    # restricted, not RDKit's doRandom: ring closures before branches, as RDKit's own writer
    assert all(Chem.MolToSmiles(Chem.MolFromSmiles(f), canonical=False) == f for f in forms)


def test_unknown_tokens_and_long_molecules_are_reported():
    tokenizer = smiles_tokenizer(["CCO"])
    molecules = data.MoleculeSet(["CCO", "CC[Fe]", "C" * 40], [math.nan] * 3, [1, 2, 3])
    kept, sequences, notes = dataset.usable(tokenizer, molecules, context=20, label="set")
    assert kept.smiles == ["CCO"] and len(sequences) == 1
    assert notes == ["set: skipped 1 molecules with tokens outside the backbone's vocabulary "
                     "(e.g. CC[Fe])",
                     "set: skipped 1 molecules longer than the model's 20-token context "
                     "(e.g. line/record 3)"]


def test_moses_split_reads_from_the_wheel():
    smiles = data.moses_smiles("test", 3)
    assert smiles[0] == "CC1C2CCC(C2)C1CN(CCO)C(=O)c1ccc(Cl)cc1"
    assert len(smiles) == 3 and all(Chem.MolFromSmiles(s) for s in smiles)


def test_char_limit_is_the_longest_row_that_can_still_fit(tiny_prior):
    from tlgen.plugins.molecules.backbone import load_pretrained

    _, tokenizer = load_pretrained(tiny_prior)
    vocab = [t for t in tokenizer.get_vocab() if t not in tokenizer.all_special_tokens]
    worst = max(vocab, key=len) * 94  # 94 of the longest token, plus BOS and EOS: 96 tokens
    assert len(worst) == dataset.char_limit(96, tokenizer)
    assert len(encode_texts(tokenizer, [worst])[0]) == 96
    assert dataset.char_limit(96) == 94 * 6  # no tokenizer yet: the common atoms, [N@@+] etc.


def test_over_long_rows_are_dropped_before_rdkit_and_counted(tmp_path, monkeypatch):
    """Issue 16: a 5,000-character row cost minutes in the scaffold split; it is now dropped
    (and noted) before RDKit or the split ever see it."""
    chain = "C" * 5000
    rows = [*data.moses_smiles("test", 40), chain]
    path = write(tmp_path / "set.smi", "".join(s + "\n" for s in rows))
    seen = []
    split = data.split
    monkeypatch.setattr(data, "split", lambda smiles, *a: seen.extend(smiles) or split(smiles, *a))
    splits = dataset.load(MoleculesData(source=str(path)), max_chars=756)
    assert seen and max(map(len, seen)) < 100
    assert splits.notes == ["set.smi: skipped 1 rows longer than 756 characters, more than the "
                            "backbone's context holds (lines 41)"]
    assert sum(len(s.smiles) for s in (splits.train, splits.validation, splits.test)) == 40


def randomized_set(share=1.0, context=None):
    smiles = ["CC(=O)Oc1ccccc1C(=O)O", "C[C@H](N)C(=O)O", "c1ccc2[nH]ccc2c1"]
    tokenizer = smiles_tokenizer(smiles)
    sequences = encode_texts(tokenizer, smiles)
    context = context or max(map(len, sequences)) + 10
    return smiles, sequences, tokenizer, dataset.RandomizedSequences(
        smiles, sequences, tokenizer, context, share, seed=3)


def text(tokenizer, ids):
    return "".join(tokenizer.decode(ids[1:-1]).split())


def test_randomized_rows_are_the_same_molecule_new_each_epoch_and_reproducible():
    smiles, sequences, tokenizer, rows = randomized_set()
    forms = []
    for epoch in range(6):
        rows.set_epoch(epoch)
        drawn = [rows[i] for i in range(len(smiles))]
        assert all(d[0] == tokenizer.bos_token_id and d[-1] == tokenizer.eos_token_id
                   for d in drawn)
        got = [text(tokenizer, d) for d in drawn]
        # the same molecule, stereo kept
        assert [Chem.CanonSmiles(g) for g in got] == [Chem.CanonSmiles(s) for s in smiles]
        forms.append(got)
    assert len({f[0] for f in forms}) > 2  # aspirin is written differently across epochs
    again = randomized_set()[3]
    again.set_epoch(4)
    assert [text(tokenizer, again[i]) for i in range(3)] == forms[4]  # what resume relies on


def test_randomized_share_and_canonical_fallback():
    smiles, sequences, tokenizer, rows = randomized_set(share=0.0)
    assert [rows[i] for i in range(3)] == sequences
    # a context that only the canonical forms fit: every longer random form falls back
    tight = max(map(len, sequences))
    smiles, sequences, tokenizer, rows = randomized_set(context=tight)
    for epoch in range(5):
        rows.set_epoch(epoch)
        assert all(len(rows[i]) <= tight for i in range(3))
