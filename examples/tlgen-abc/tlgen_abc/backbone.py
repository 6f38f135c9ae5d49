"""The backbone: a small GPT-2 over characters, with a Hugging Face character tokenizer.

The tokenizer is a ``PreTrainedTokenizerFast`` (a ``tokenizers`` WordLevel model whose
words are single characters: newline and printable ASCII), so a saved backbone
reloads with plain ``from_pretrained`` and needs no tlgen code.
"""

from __future__ import annotations

from tlgen import Backbone, TlgenError

from tlgen_abc.config import AbcBackbone

SPECIALS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
CHARACTERS = ["\n", *(chr(c) for c in range(32, 127))]


def new_tokenizer():
    """A character-level ``PreTrainedTokenizerFast``: one token per character."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([*SPECIALS.values(), *CHARACTERS])}
    core = Tokenizer(models.WordLevel(vocab, unk_token=SPECIALS["unk_token"]))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=core, **SPECIALS)


def new_model(cfg: AbcBackbone, tokenizer):
    """A randomly initialised GPT-2 with the section's sizes."""
    from transformers import GPT2Config, GPT2LMHeadModel

    if cfg.n_embd % cfg.n_head:
        raise TlgenError(f"backbone.n_embd ({cfg.n_embd}) must be a multiple of "
                         f"backbone.n_head ({cfg.n_head})")
    return GPT2LMHeadModel(GPT2Config(
        vocab_size=len(tokenizer), n_positions=cfg.n_positions, n_embd=cfg.n_embd,
        n_layer=cfg.n_layer, n_head=cfg.n_head, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))


def load(cfg: AbcBackbone, path: str | None) -> Backbone:
    """From ``path`` with ``from_pretrained`` (``from_scratch``: its architecture, new weights),
    or with no path a new model of the section's sizes."""
    source = path or cfg.path
    if not source:
        tokenizer = new_tokenizer()
        return Backbone(model=new_model(cfg, tokenizer), tokenizer=tokenizer, name="gpt2-abc (new)")
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from tlgen.lm import resolve_source

    folder = resolve_source(source, tokenizer=True)  # a saved abc backbone, e.g. a run's model/
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    if cfg.from_scratch:
        model = GPT2LMHeadModel(GPT2Config.from_pretrained(folder))
    else:
        model = GPT2LMHeadModel.from_pretrained(folder)
    return Backbone(model=model, tokenizer=tokenizer, name=str(folder))
