"""Throughput and latency of `tlgen serve` under load vs offline sampling, side by side.

    python benchmarks/serve_load.py RUN [--clients 8] [--n 16] [--requests 32] [--threads 1]
                                        [--overlap-scoring] [--sample-process] [--draw-ahead N]
                                        [--soak SECONDS]

RUN is a fine-tuned molecules run (`tlgen run --plugin molecules --set train.threads=1`).
In order, one thing at a time on the machine:

1. offline: the run's trained model loaded through its plugin, ``sample`` hook timed on
   ``clients x n x requests`` SMILES at the run's own ``[sample]`` settings (the sampler that
   `benchmarks/sampling.py` times), best of ``--repeats``; then the same plus ``item_metrics``
   (timed again right after the full load; on a shared machine the faster of the two is
   what served is compared with);
2. `tlgen serve RUN` in a subprocess on a free 127.0.0.1 port (``--threads`` torch threads;
   ``--overlap-scoring``: item_metrics in a scoring process; ``--sample-process``: ``sample``
   calls in a process of their own, away from the event loop's GIL; ``--draw-ahead N``: unseeded
   requests served from a stock the sampler keeps drawing in calls of N);
   ``--clients`` closed-loop clients (threads, httpx) each send ``--requests`` unseeded
   ``POST /v1/generate {"n": N}``: SMILES/s, its ratio to offline, p50 / p99 latency;
3. half the load, two ways: half the clients, closed-loop (they still ask as fast as they
   are answered, so the sampler stays saturated), and half the full-load request rate
   (the same clients paced as locust's ``constant_throughput`` paces users) (p50 / p99);
4. with ``--soak S``: full load for S seconds, errors counted and the server's RSS (with its
   scoring and sampling processes': pages the scoring process shares with the server since
   the fork count twice) read every 5 s (first, last, max).

Load goes only to 127.0.0.1 and every loop is bounded.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np


def offline(engine, total: int, repeats: int, batch: int | None = None,
            seed: int = 0) -> tuple[float, float, float, float]:
    """SMILES/s of the plugin's ``sample`` hook alone, and with ``item_metrics`` after it
    (``batch``: in calls of that many, as the server's merged batches are); also the CPU
    seconds per SMILES of each (this thread's: torch runs on it at one thread)."""
    config = engine.sample_config({})
    best, best_scored, cpu = float("inf"), float("inf"), [0.0, 0.0]
    for repeat in range(repeats):
        config = config.model_copy(update={"seed": seed + repeat})
        start, cpu_start = time.perf_counter(), time.thread_time()
        calls = [engine.sample(config, min(batch or total, total - done))
                 for done in range(0, total, batch or total)]
        drawn, cpu_drawn = time.perf_counter(), time.thread_time()
        for samples in calls:
            engine.item_metrics(config, samples)
        best = min(best, drawn - start)
        best_scored = min(best_scored, time.perf_counter() - start)
        cpu[0] += (cpu_drawn - cpu_start) / total / repeats
        cpu[1] += (time.thread_time() - cpu_drawn) / total / repeats
    return total / best, total / best_scored, cpu[0], cpu[1]


def start_server(run_dir: str, threads: int, log_dir: str,
                 extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    tlgen = str(Path(sys.executable).with_name("tlgen"))
    proc = subprocess.Popen([tlgen, "serve", run_dir, "--port", str(port), "--threads",
                             str(threads), "--log-dir", log_dir, *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"tlgen serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("tlgen serve did not start within 300 s")


def load(url: str, clients: int, n: int, requests: int | None = None,
         seconds: float | None = None, every: float = 0.0) -> dict:
    """Closed-loop clients: each sends its next request when the last is answered, or with
    ``every``, ``every`` seconds after its last one started if that is later (locust's
    ``constant_throughput``: a client offers at most 1 / ``every`` requests per second)."""
    def client(index: int) -> tuple[list[float], int, int]:
        latencies, items, errors = [], 0, 0
        stop = time.monotonic() + seconds if seconds else None
        time.sleep(every * index / clients)  # paced clients start spread over one period
        with httpx.Client(base_url=url, timeout=120) as http:
            for i in range(requests or 10**9):
                if stop and time.monotonic() > stop:
                    break
                if latencies and every:
                    time.sleep(max(0.0, start + every - time.perf_counter()))
                start = time.perf_counter()
                answer = http.post("/v1/generate", json={"n": n})
                latencies.append(time.perf_counter() - start)
                if answer.status_code == 200:
                    items += len(answer.json()["items"])
                else:
                    errors += 1
        return latencies, items, errors

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    wall = time.perf_counter() - start
    latencies = np.array([x for r in results for x in r[0]])
    items = sum(r[1] for r in results)
    return {"rate": items / wall, "p50": float(np.percentile(latencies, 50)),
            "p99": float(np.percentile(latencies, 99)), "requests": len(latencies),
            "items": items, "errors": sum(r[2] for r in results), "wall": wall}


def server_figures(url: str) -> dict[str, float]:
    """From /metrics: seconds the server's sampler has spent in sample calls (``busy``), how
    many calls (``calls``), how many artefacts they drew (``drawn``) and how many wait drawn
    ahead (``stock``)."""
    found = {}
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        name, _, value = line.partition(" ")
        found[name] = float(value) if value and not name.startswith("#") else 0.0
    return {key: found.get(name, 0.0) for key, name in (
        ("busy", "tlgen_sample_batch_seconds_sum"), ("calls", "tlgen_sample_batch_items_count"),
        ("drawn", "tlgen_sample_batch_items_sum"), ("stock", "tlgen_drawn_ahead_items"))}


def measured(url: str, clients: int, n: int, requests: int, ahead: int, pid: int,
             every: float = 0.0) -> dict:
    """``load`` with the server's figures around it. Drawn-ahead artefacts are counted where
    they were drawn: the stock is let fill up first (the server stops drawing there), what it
    held at the start is taken off the served rate and what it holds at the end added."""
    deadline = time.monotonic() + 120
    while ahead and server_figures(url)["stock"] < ahead and time.monotonic() < deadline:
        time.sleep(0.2)
    before, cpu = server_figures(url), cpu_seconds(pid)
    result = load(url, clients, n, requests=requests, every=every)
    after, cpu = server_figures(url), cpu_split(cpu, cpu_seconds(pid))
    result["cpu"] = [c / max(after["drawn"] - before["drawn"], 1) for c in cpu]
    result["on_core"] = cpu[0] / result["wall"]
    result["rate"] = (result["items"] - before["stock"] + after["stock"]) / result["wall"]
    result["busy"] = (after["busy"] - before["busy"]) / result["wall"]
    calls = max(after["calls"] - before["calls"], 1)
    result["per_call"] = (after["drawn"] - before["drawn"]) / calls
    result["stock"] = (before["stock"], after["stock"])
    return result


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of each of the server's threads (``thread <id>``)
    and of each of its child processes, all their threads together (``child <pid>``: the
    scoring process, the sampling process), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")

    def used(stat: Path) -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    found = {f"thread {task.name}": used(task / "stat")
             for task in Path(f"/proc/{pid}/task").iterdir()}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found[f"child {child}"] = used(Path(f"/proc/{child}/stat"))
    return found


def cpu_split(before: dict[str, float], after: dict[str, float]) -> tuple[float, float, float]:
    """CPU seconds between two ``cpu_seconds``: the sampler (the thread or child process
    that used most), the server's other threads (the event loop: HTTP, JSON, the log), its
    other child processes (scoring)."""
    used = {k: v - before.get(k, 0.0) for k, v in after.items()}
    busiest = max(used, key=used.get)
    return (used[busiest],
            sum(v for k, v in used.items() if k != busiest and k.startswith("thread")),
            sum(v for k, v in used.items() if k != busiest and k.startswith("child")))


def rss_mb(pid: int) -> float:
    """Resident MB of ``pid`` and its child processes (a scoring process: the pages it
    shares with the server since the fork count twice)."""
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for each in [pid, *map(int, children)]:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--n", type=int, default=16, help="SMILES per request")
    parser.add_argument("--requests", type=int, default=32, help="requests per client")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="offline timings, best kept")
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of full load")
    parser.add_argument("--max-wait-ms", type=float, default=None,
                        help="the server's --max-wait-ms (default: its own)")
    parser.add_argument("--overlap-scoring", action="store_true",
                        help="serve with --overlap-scoring (item_metrics in a scoring process)")
    parser.add_argument("--sample-process", action="store_true",
                        help="serve with --sample-process (sample calls in a process of their "
                             "own, away from the event loop's GIL)")
    parser.add_argument("--draw-ahead", type=int, default=0,
                        help="the server's --draw-ahead (artefacts drawn ahead; 0: off)")
    args = parser.parse_args()
    total = args.clients * args.n * args.requests
    log_dir = str(Path(args.run) / "serving" / f"bench-{os.getpid()}")
    print(f"run {args.run}: {args.clients} clients x {args.requests} requests x {args.n} "
          f"SMILES ({total}), {args.threads} torch threads; machine: {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    from tlgen.engine import Engine

    engine = Engine.load(args.run, threads=args.threads)
    engine.warm_up()
    rate, scored, cpu_sample, cpu_score = offline(engine, total, args.repeats)
    print(f"offline sample hook:                 {rate:8.1f} SMILES/s "
          f"(with item_metrics: {scored:.1f} SMILES/s), the run's sample.batch_size")
    merged = args.draw_ahead or args.clients * args.n
    small = offline(engine, total, args.repeats, merged, seed=100)[0]
    print(f"offline in calls of {merged} (" + ("the server's draw-ahead calls" if args.draw_ahead
          else f"the most {args.clients} clients can merge") + f"): {small:8.1f} SMILES/s")
    extra = (("--overlap-scoring",) if args.overlap_scoring else ()) + (
        ("--sample-process",) if args.sample_process else ()) + (
        ("--max-wait-ms", str(args.max_wait_ms)) if args.max_wait_ms is not None else ()) + (
        "--draw-ahead", str(args.draw_ahead))
    proc, url = start_server(args.run, args.threads, log_dir, extra)
    try:
        load(url, args.clients, args.n, requests=1)  # warm the connections and batcher
        full = measured(url, args.clients, args.n, args.requests, args.draw_ahead, proc.pid)
        # the machine may be shared: the sampler timed again right after, the faster kept
        again = offline(engine, total, args.repeats, seed=200)[0]
        print(f"offline sample hook again, after:    {again:8.1f} SMILES/s (the faster of the "
              f"two is what served is compared with)")
        rate = max(rate, again)
        print(f"served, {args.clients} clients:            {full['rate']:8.1f} SMILES/s = "
              f"{full['rate'] / rate:.2f} x offline ({full['rate'] / scored:.2f} x offline "
              f"with item_metrics); p50 {full['p50']:.3f} s, p99 {full['p99']:.3f} s, "
              f"{full['requests']} requests, {full['errors']} errors; sampler busy "
              f"{full['busy']:.0%} of the time, {full['per_call']:.0f} SMILES per call; "
              f"{full['rate'] / small:.2f} x offline in calls of {merged}; drawn ahead at "
              f"start / end: {full['stock'][0]:.0f} / {full['stock'][1]:.0f} (taken off / "
              f"added)")
        sampler, rest, scorer = (1000 * c for c in full["cpu"])
        print(f"CPU per SMILES drawn (what contention does not change): offline sample hook "
              f"{1000 * cpu_sample:.2f} ms, item_metrics {1000 * cpu_score:.2f} ms; served: "
              f"sampler {sampler:.2f} ms ({sampler / 1000 / cpu_sample:.2f} x offline), "
              f"rest of the server process {rest:.2f} ms, scoring process {scorer:.2f} ms; the "
              f"sampler was on a core {full['on_core']:.0%} of the wall time")
        fewer = max(1, args.clients // 2)
        half = measured(url, fewer, args.n, args.requests, args.draw_ahead, proc.pid)
        print(f"served, {fewer} closed-loop clients:      {half['rate']:8.1f} SMILES/s; p50 "
              f"{half['p50']:.3f} s, p99 {half['p99']:.3f} s, {half['errors']} errors (still "
              f"all the sampler can do: busy {half['busy']:.0%})")
        every = fewer * args.n / (full["rate"] / 2)
        paced = measured(url, fewer, args.n, args.requests, args.draw_ahead, proc.pid, every)
        print(f"served, half the full-load rate ({fewer} clients, one request each every "
              f"{every:.2f} s): {paced['rate']:8.1f} SMILES/s; p50 {paced['p50']:.3f} s, p99 "
              f"{paced['p99']:.3f} s, {paced['errors']} errors; sampler busy "
              f"{paced['busy']:.0%}")
        if args.soak:
            rss, errors, requests, end = [rss_mb(proc.pid)], 0, 0, time.monotonic() + args.soak
            while time.monotonic() < end:
                part = load(url, args.clients, args.n, seconds=min(5.0, end - time.monotonic()))
                errors, requests = errors + part["errors"], requests + part["requests"]
                rss.append(rss_mb(proc.pid))
            print(f"soak {args.soak:.0f} s: {requests} requests, {errors} errors; server RSS "
                  f"{rss[0]:.0f} MB -> {rss[-1]:.0f} MB (max {max(rss):.0f} MB); every 30 s: "
                  + " ".join(f"{mb:.0f}" for mb in rss[::6]))
    finally:
        proc.terminate()
        code = proc.wait(120)
    print(f"server stopped by SIGTERM, exit code {code}; load average now "
          f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
