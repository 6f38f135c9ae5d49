"""Does `tlgen monitor` stay quiet on the model's own output and flag a changed one?

    python benchmarks/monitor_drift.py RUN --other OTHER_RUN [--windows 20] [--window 200]
                                       [--hot 1.6] [--threads 1]

RUN is a fine-tuned molecules run; OTHER_RUN a run whose model is (nearly) the prior, e.g.
`tlgen run --plugin molecules --set train.max_steps=1 --set before=false`. Each case is
served by a real `tlgen serve` on 127.0.0.1 to its own log folder with unseeded
``POST /v1/generate`` requests, then `tlgen monitor LOGS -r RUN` judges it:

1. ``--windows`` windows of RUN at its own settings: expect no alert;
2. two windows of RUN at ``temperature = --hot``: expect a flag in window 0 or 1;
3. two windows of OTHER_RUN: expect a flag in window 0 or 1.

Each line prints the monitor's verdict and the flagged windows.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from serve_load import start_server  # noqa: E402


def serve_log(run: str, log_dir: Path, items: int, params: dict, threads: int) -> float:
    """Serve ``items`` artefacts of ``run`` (4 clients, 50 per request) into ``log_dir``."""
    proc, url = start_server(run, threads, str(log_dir))
    start = time.perf_counter()
    try:
        def ask(count: int) -> None:
            with httpx.Client(base_url=url, timeout=300) as http:
                answer = http.post("/v1/generate", json={"n": count, **params})
                answer.raise_for_status()

        sizes = [50] * (items // 50) + ([items % 50] if items % 50 else [])
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(ask, sizes))
    finally:
        proc.terminate()
        proc.wait(120)
    return time.perf_counter() - start


def monitor(logs: Path, run: str, window: int, threads: int) -> tuple[int, str]:
    tlgen = str(Path(sys.executable).with_name("tlgen"))
    done = subprocess.run([tlgen, "monitor", str(logs), "-r", run, "--window", str(window),
                           "--threads", str(threads)], capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("monitor:")]
    return done.returncode, lines[-1] if lines else done.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--other", required=True, help="a run of (nearly) the prior")
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--window", type=int, default=200)
    parser.add_argument("--hot", type=float, default=1.6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="folder for the logs (default RUN/serving)")
    args = parser.parse_args()
    out = Path(args.out or Path(args.run) / "serving") / f"drift-{int(time.time())}"
    cases = [("own output", args.run, args.windows, {}, 0),
             (f"temperature {args.hot}", args.run, 2, {"temperature": args.hot}, 1),
             ("prior served instead", args.other, 2, {}, 1)]
    for label, run, windows, params, expected in cases:
        logs = out / label.split()[0]
        took = serve_log(run, logs, windows * args.window, params, args.threads)
        code, line = monitor(logs, args.run, args.window, args.threads)
        verdict = "as expected" if code == expected else "NOT as expected"
        print(f"{label}: served {windows} x {args.window} in {took:.0f} s; monitor exit {code} "
              f"({verdict}): {line}", flush=True)


if __name__ == "__main__":
    main()
