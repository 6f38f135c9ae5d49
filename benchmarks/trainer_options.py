"""The trainer's options for bigger models, measured: tokens/s and peak memory with and
without gradient checkpointing and ``torch.compile``, each in a fresh process so that the
peak (max RSS on a CPU, ``torch.cuda.max_memory_allocated`` on a GPU) is its own.

    python benchmarks/trainer_options.py                   # CPU, a 4-layer GPT-2, ~3 minutes
    python benchmarks/trainer_options.py --device cuda --layers 12 --width 768 --steps 50

The figures are printed side by side, ratios against the plain run last.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

OPTIONS = {"plain": [], "gradient checkpointing": ["train.gradient_checkpointing=true"],
           "torch.compile": ["train.compile=true"]}


def child(args: argparse.Namespace, extra: list[str]) -> dict:
    """One run of benchmarks/trainer_vs_hf.py's plugin with the option, in a new process."""
    code = f"""
import json, resource, sys, time
sys.argv = ['x']
sys.path.insert(0, 'benchmarks')
import torch
import trainer_vs_hf as bench
from transformers import GPT2Config, GPT2LMHeadModel
def model():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=bench.VOCAB, n_positions=256,
        n_embd={args.width}, n_layer={args.layers}, n_head=max(1, {args.width} // 64)))
bench.new_model = model
from tlgen import Run
from tlgen.report import read_metrics
run = Run.create(bench.__file__, output_dir={tempfile.mkdtemp()!r}, device={args.device!r},
    overrides=['data.sequences={args.steps * args.batch}', 'train.max_steps={args.steps}',
               'train.batch_size={args.batch}', 'train.save_every={args.steps}',
               'train.eval_every={args.steps}', 'train.log_every={args.steps}', 'before=false',
               *{extra!r}])
summary = run.execute()
mfu = [r.get('mfu') for r in read_metrics(run.dir) if r['split'] == 'train'][-1]
peak = (torch.cuda.max_memory_allocated() if torch.cuda.is_available() and {args.device!r} == 'cuda'
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
print('RESULT ' + json.dumps({{'tok_s': summary['train']['tokens'] / summary['train']['wall_seconds'],
                               'mfu': mfu, 'peak': peak}}))
"""
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                          text=True)
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(line[0][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    results = {name: child(args, extra) for name, extra in OPTIONS.items()}
    plain = results["plain"]
    for name, r in results.items():
        if "error" in r:
            print(f"{name:<24} failed: {r['error']}")
            continue
        print(f"{name:<24} {r['tok_s']:10,.0f} tokens/s  peak {r['peak'] / 2**20:8,.0f} MiB"
              + (f"  MFU {r['mfu']:.1%}" if r.get("mfu") else ""))
    for name, r in results.items():
        if name != "plain" and "error" not in r and "error" not in plain:
            print(f"{name}: speed {r['tok_s'] / plain['tok_s']:.2f}x, "
                  f"peak memory {r['peak'] / plain['peak']:.2f}x of plain")


if __name__ == "__main__":
    main()
