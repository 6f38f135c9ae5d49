"""The atom-level SMILES tokenizer: round trips, bracket atoms, %nn ring bonds, unknown tokens."""

from transformers import AutoTokenizer

from tlgen.plugins.molecules.tokenizer import (
    BOS,
    EOS,
    SPECIAL_TOKENS,
    build_vocab,
    smiles_tokenizer,
)

HARD = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "C[C@@H](N)C(=O)O",
    "Clc1ccc(Br)cc1[N+](=O)[O-]",
    "C1CC2CC3CC4CC5CC6CC7CC8CC9CC%10CC%11CCC%11C%10C9C8C7C6C5C4C3C21",
    "c1cc[nH]c1/C=C/C#N",
    "[2H]C([2H])([2H])Sc1ccccc1",
]


def test_round_trip_after_reload(tmp_path, corpus):
    tokenizer = smiles_tokenizer(corpus + HARD)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    for smiles in corpus[:200] + HARD:
        ids = loaded(smiles)["input_ids"]
        assert loaded.convert_ids_to_tokens(ids)[0] == BOS
        assert loaded.convert_ids_to_tokens(ids)[-1] == EOS
        assert loaded.decode(ids, skip_special_tokens=True) == smiles


def test_atoms_are_single_tokens():
    tokenizer = smiles_tokenizer(HARD)
    tokens = tokenizer.tokenize("Clc1cc%10[C@@H]Br")
    assert tokens == ["Cl", "c", "1", "c", "c", "%10", "[C@@H]", "Br"]


def test_vocab_starts_with_special_tokens_and_counts_frequency():
    vocab = build_vocab(["CCO", "CCN"], extra=[])
    assert vocab[: len(SPECIAL_TOKENS)] == SPECIAL_TOKENS
    assert vocab[len(SPECIAL_TOKENS)] == "C"
    assert set(vocab) == {*SPECIAL_TOKENS, "C", "O", "N"}


def test_unknown_atoms_map_to_unk():
    tokenizer = smiles_tokenizer(["CCO"])
    ids = tokenizer("CC[Fe+2]", add_special_tokens=False)["input_ids"]
    assert ids[-1] == tokenizer.unk_token_id
