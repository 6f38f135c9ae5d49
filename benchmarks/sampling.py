"""SMILES/s of the molecules plugin's KV-cached batched sampler vs an uncached token loop, same model.

    python benchmarks/sampling.py [--model FOLDER] [--n 5000] [--threads 2]

The uncached loop is the naive sampler: the same batch, but each step runs the model
over the whole prefix again (no KV cache) until every row has ended. The ratio is
printed last.
"""

from __future__ import annotations

import argparse
import time

import torch

from tlgen.plugins.molecules import backbone, metrics, sampling


@torch.no_grad()
def uncached(model, tokenizer, n: int, batch_size: int, length: int) -> list[str]:
    """The naive token loop: full forward over the prefix at every step."""
    out = []
    for start in range(0, n, batch_size):
        ids = torch.full((min(batch_size, n - start), 1), tokenizer.bos_token_id)
        ended = torch.zeros(len(ids), dtype=torch.bool)
        while ids.shape[1] < length and not ended.all():
            probs = torch.softmax(model(input_ids=ids, use_cache=False).logits[:, -1].float(), -1)
            token = torch.multinomial(probs, 1)
            token[ended] = tokenizer.pad_token_id
            ended |= token[:, 0] == tokenizer.eos_token_id
            ids = torch.cat([ids, token], dim=1)
        out += ["".join(t.split()) for t in tokenizer.batch_decode(ids[:, 1:], skip_special_tokens=True)]
    return out


def timed(label: str, draw, n: int) -> float:
    start = time.perf_counter()
    smiles = draw()
    seconds = time.perf_counter() - start
    valid = sum(m is not None for m in metrics.parse(smiles)) / len(smiles)
    print(f"{label:<34} {n:>6} SMILES in {seconds:7.2f} s = {n / seconds:8.1f} SMILES/s "
          f"(valid {valid:.3f})")
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(backbone.SHIPPED_PRIOR))
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--uncached-n", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = backbone.load_pretrained(args.model)
    model.eval()
    length = sampling.context_size(model)
    bf16 = sampling.fast_bf16(torch.device("cpu"))
    print(f"model {args.model}: {model.num_parameters() / 1e6:.2f}M parameters, "
          f"{args.threads} threads, bf16 autocast {'on' if bf16 else 'off'} for the cached sampler")
    sampling.generate(model, tokenizer, 50, batch_size=50)  # warm-up
    fast = timed("KV-cached batched (tlgen sampler)",
                 lambda: sampling.generate(model, tokenizer, args.n, args.batch_size), args.n)
    timed("KV-cached batched, fp32",
          lambda: sampling.generate(model, tokenizer, args.n, args.batch_size, bf16=False), args.n)
    slow = timed("uncached token loop (fp32)",
                 lambda: uncached(model, tokenizer, args.uncached_n, args.batch_size, length),
                 args.uncached_n)
    print(f"speed-up of the cached sampler: {fast / slow:.1f}x ({fast:.0f} vs {slow:.1f} SMILES/s)")


if __name__ == "__main__":
    main()
