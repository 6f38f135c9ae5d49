import json
import os
import subprocess
import sys
from pathlib import Path

WORKER = str(Path(__file__).with_name("ddp_worker.py"))


def result(cmd, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_two_process_torchrun_agrees_with_one_process(tmp_path):
    """DDP over gloo: 2 processes x batch 4 vs 1 process x batch 8, same steps."""
    single = result([sys.executable, WORKER, str(tmp_path / "one"), "8"], tmp_path)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", "29533", WORKER, str(tmp_path / "two"), "4"]
    double = result(torchrun, tmp_path)
    assert (single["procs"], double["procs"]) == (1, 2)
    assert abs(double["val"] - single["val"]) / single["val"] < 0.05, (single, double)
    assert abs(double["tokens"] - single["tokens"]) / single["tokens"] < 0.2
