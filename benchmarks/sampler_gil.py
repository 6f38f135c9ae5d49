"""Why `tlgen serve --sample-process` exists: the molecules sampler on a worker thread, with
the main thread idle, running Python a third of the time (an event loop's share under load)
or all the time, side by side in one run; and, for contrast, beside a second *process* that
runs Python on the other core. SMILES/s and CPU ms per SMILES of the sampling thread.

    python benchmarks/sampler_gil.py [--model FOLDER] [--n 1000] [--batch-size 500]

One torch thread. A thread that waits for the GIL uses no CPU, so its CPU per SMILES stays
put while its rate falls: the decoding loop gives the GIL up at every torch call and must
get it back from whatever Python runs beside it. A process beside it shares no GIL.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time

import torch

from tlgen.plugins.molecules import backbone, sampling


def python_beside(mode: str, stop: threading.Event) -> None:
    """What the main thread does while the sampler draws: ``idle`` sleeps; ``bursty`` runs
    Python 1 ms in every 3 ms; ``busy`` runs Python all the time."""
    while not stop.is_set():
        if mode == "busy":
            sum(i * i for i in range(1000))
        elif mode == "bursty":
            end = time.perf_counter() + 0.001
            while time.perf_counter() < end:
                pass
            time.sleep(0.002)
        else:
            time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(backbone.SHIPPED_PRIOR))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2, help="timings per line, best kept")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, tokenizer = backbone.load_pretrained(args.model)
    model.eval()
    pool = sampling.KVPool()
    sampling.generate(model, tokenizer, 100, batch_size=100, pool=pool)  # warm-up

    def draw(found: list) -> None:
        best, cpu = float("inf"), float("inf")
        for repeat in range(args.repeats):
            start, cpu_start = time.perf_counter(), time.thread_time()
            with torch.inference_mode():
                sampling.generate(model, tokenizer, args.n, batch_size=args.batch_size,
                                  seed=repeat, pool=pool)
            best = min(best, time.perf_counter() - start)
            cpu = min(cpu, time.thread_time() - cpu_start)
        found += [args.n / best, 1000 * cpu / args.n]

    rates = {}
    for label, mode, process in [("main thread idle", "idle", False),
                                 ("main thread runs Python 1/3 of the time", "bursty", False),
                                 ("main thread runs Python all the time", "busy", False),
                                 ("another process runs Python all the time", "idle", True)]:
        other = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if process else None
        found, stop = [], threading.Event()
        beside = threading.Thread(target=python_beside, args=(mode, stop))
        sampler = threading.Thread(target=draw, args=(found,))
        beside.start()
        sampler.start()
        sampler.join()
        stop.set()
        beside.join()
        if other:
            other.kill()
        rates[label] = found[0]
        print(f"sampler thread, {label:<42} {found[0]:7.1f} SMILES/s, {found[1]:.2f} ms CPU "
              f"per SMILES", flush=True)
    idle = rates["main thread idle"]
    print("rate / idle: " + ", ".join(f"{label}: {rate / idle:.2f}x"
                                      for label, rate in rates.items() if rate != idle))


if __name__ == "__main__":
    main()
