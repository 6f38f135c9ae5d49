"""SMILES/s of the molecules plugin's sampler vs `transformers` `generate`, same model, batch
and length, side by side in one run.

    python benchmarks/sampling.py [--model FOLDER] [--n 5000] [--batch-size 500] [--threads 2]

`generate` runs with ``do_sample=True``, its KV cache, the same batch size, ``max_length``
= the model's context and EOS as the stop token (it stops when every row of the batch has
ended). tlgen's sampler (`tlgen.plugins.molecules.sampling.generate`) is the same KV-cached
loop but drops ended rows from the batch (and its cache), keeps its cache in buffers it
writes in place (`sampling.growing_cache`) instead of `DynamicCache`'s copy per step, and
on a CPU switches the model to eager attention while it draws. Both are timed in fp32
(best of ``--repeats``); tlgen's is timed again with the bf16 autocast it uses by default
where the CPU has bf16 matrix units, and so is `generate`. `generate` is also timed with
the model switched to eager attention, so that the ratio is not only the attention
kernel. Each line also gives the useful FLOP rate (2 x non-embedding parameters x real
tokens drawn, plus attention) as a share of this process's measured fp32 matmul peak at
the same thread count. The ratios tlgen / generate are printed last: against `generate`
on the model as loaded (SDPA) and against the faster of its two attention settings.
"""

from __future__ import annotations

import argparse
import time

import torch

from tlgen.plugins.molecules import backbone, sampling
from tlgen.plugins.molecules.metrics import molecular as metrics
from tlgen.throughput import peak_flops


@torch.no_grad()
def hf_generate(model, tokenizer, n: int, batch_size: int, length: int,
                generator_seed: int = 0) -> list[str]:
    """``n`` SMILES from ``model.generate`` (multinomial sampling, KV cache)."""
    torch.manual_seed(generator_seed)
    out = []
    for start in range(0, n, batch_size):
        rows = min(batch_size, n - start)
        bos = torch.full((rows, 1), tokenizer.bos_token_id)
        ids = model.generate(bos, attention_mask=torch.ones_like(bos), do_sample=True,
                             use_cache=True, max_length=length, top_k=0, top_p=1.0,
                             temperature=1.0, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)
        out += sampling.decode(tokenizer, ids[:, 1:])
    return out


def useful_flops(model, tokenizer, smiles: list[str]) -> float:
    """FLOPs that drawing these SMILES needs at the least: each real token (BOS..EOS) costs
    2 x non-embedding parameters plus attention over its prefix (2 x 2 x layers x d x
    position), as in Kaplan et al.'s per-token forward count."""
    cfg = model.config
    embedding = sum(p.numel() for n, p in model.named_parameters() if "wte" in n or "wpe" in n)
    dense = 2 * (model.num_parameters() - embedding)
    total = 0.0
    for ids in tokenizer(smiles, add_special_tokens=False)["input_ids"]:
        tokens = len(ids) + 1  # positions fed to the model: BOS and every SMILES token
        total += tokens * dense + 4 * cfg.n_layer * cfg.n_embd * tokens * (tokens + 1) / 2
    return total


def timed(label: str, draw, model, tokenizer, peak: float, repeats: int) -> float:
    """The best of ``repeats`` timings (other processes on the machine only ever slow a run)."""
    seconds = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        smiles = draw()
        seconds = min(seconds, time.perf_counter() - start)
    valid = sum(m is not None for m in metrics.parse(smiles)) / len(smiles)
    share = useful_flops(model, tokenizer, smiles) / seconds / peak
    print(f"{label:<40} {len(smiles):>6} SMILES in {seconds:7.2f} s = "
          f"{len(smiles) / seconds:8.1f} SMILES/s, valid {valid:.3f}, "
          f"{share:6.1%} of the fp32 matmul peak")
    return len(smiles) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(backbone.SHIPPED_PRIOR))
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timings per line, best kept")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = backbone.load_pretrained(args.model)
    model.eval()
    length = sampling.context_size(model)
    bf16 = sampling.fast_bf16(torch.device("cpu"))
    peak = peak_flops(torch.device("cpu"), "fp32")
    print(f"model {args.model}: {model.num_parameters() / 1e6:.2f}M parameters, batch "
          f"{args.batch_size}, max length {length}, {args.threads} threads; measured fp32 "
          f"matmul peak {peak / 1e9:.0f} GFLOP/s")
    sampling.generate(model, tokenizer, 50, batch_size=50, bf16=False)  # warm-up
    hf_generate(model, tokenizer, 50, 50, length)
    loaded = model.config._attn_implementation

    def hf_timed(label: str, attention: str) -> float:
        model.set_attn_implementation(attention)
        try:
            return timed(f"{label}, {attention}", lambda: hf_generate(
                model, tokenizer, args.n, args.batch_size, length), model, tokenizer, peak,
                args.repeats)
        finally:
            model.set_attn_implementation(loaded)

    ours = timed("tlgen sampler, fp32", lambda: sampling.generate(
        model, tokenizer, args.n, args.batch_size, bf16=False), model, tokenizer, peak,
        args.repeats)
    hf = hf_timed("transformers generate, fp32", loaded)
    hf_eager = hf_timed("transformers generate, fp32", "eager")
    if bf16:
        fast = timed("tlgen sampler, bf16 autocast (default)", lambda: sampling.generate(
            model, tokenizer, args.n, args.batch_size, bf16=True), model, tokenizer, peak,
            args.repeats)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            hf16 = hf_timed("transformers generate, bf16 autocast", loaded)
            hf16_eager = hf_timed("transformers generate, bf16 autocast", "eager")
        print(f"tlgen sampler / transformers generate (bf16 autocast): {fast / hf16:.2f}x "
              f"({loaded}), {fast / max(hf16, hf16_eager):.2f}x (its faster attention); "
              f"tlgen default / generate default (bf16 vs fp32, {loaded}): {fast / hf:.2f}x")
    print(f"tlgen sampler / transformers generate (fp32, same model, batch, length): "
          f"{ours / hf:.2f}x ({ours:.0f} vs {hf:.0f} SMILES/s, {loaded}), "
          f"{ours / max(hf, hf_eager):.2f}x (its faster attention)")


if __name__ == "__main__":
    main()
