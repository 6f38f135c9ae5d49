"""The regex atom-level SMILES tokenizer (Schwaller et al. 2019) as a Hugging Face tokenizer."""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

from transformers import PreTrainedTokenizerFast

SMILES_REGEX = (
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$"
    r"|%[0-9]{2}|[0-9])"
)
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK]

# Tokens common in drug-like sets beyond ZINC leads: a from-scratch vocabulary
# includes them so a fine-tuning set rarely meets an unknown token.
COMMON_TOKENS = [
    "C", "c", "N", "n", "O", "o", "S", "s", "P", "p", "F", "Cl", "Br", "I", "B", "b",
    "(", ")", "=", "#", "-", "+", "/", "\\", ".", ":", "@", "*",
    *"123456789", "%10", "%11", "%12",
    "[nH]", "[NH]", "[NH+]", "[NH2+]", "[NH3+]", "[N+]", "[N-]", "[n+]", "[n-]", "[O-]",
    "[S+]", "[S-]", "[s+]", "[P+]", "[C@@H]", "[C@H]", "[C@@]", "[C@]", "[S@@]", "[S@]",
    "[N@@+]", "[N@+]", "[2H]", "[Si]", "[Se]", "[se]", "[B-]", "[Na+]", "[K+]", "[Cl-]",
]

_PATTERN = re.compile(SMILES_REGEX)


def build_vocab(corpus: Iterable[str], extra: Iterable[str] = COMMON_TOKENS,
                min_count: int = 1) -> list[str]:
    """Special tokens, then the corpus tokens seen ``min_count`` times (most frequent first),
    then ``extra``."""
    counts: Counter[str] = Counter()
    for smiles in corpus:
        counts.update(_PATTERN.findall(smiles))
    vocab = list(SPECIAL_TOKENS)
    vocab += [tok for tok, n in counts.most_common() if n >= min_count and tok not in vocab]
    vocab += [tok for tok in extra if tok not in vocab]
    return vocab


def make_tokenizer(vocab: list[str], model_max_length: int = 128) -> PreTrainedTokenizerFast:
    """A fast tokenizer: regex split, word-level lookup, ``<bos> ... <eos>`` added, tokens fused
    on decode."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    ids = {tok: i for i, tok in enumerate(vocab)}
    backend = Tokenizer(models.WordLevel(vocab=ids, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(SMILES_REGEX), behavior="isolated")
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, ids[BOS]), (EOS, ids[EOS])]
    )
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        model_max_length=model_max_length, padding_side="left", clean_up_tokenization_spaces=False,
    )


def smiles_tokenizer(corpus: Iterable[str], model_max_length: int = 128) -> PreTrainedTokenizerFast:
    """A tokenizer whose vocabulary covers ``corpus`` plus the common drug-like tokens."""
    return make_tokenizer(build_vocab(corpus), model_max_length)

