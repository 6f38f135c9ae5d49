"""Entry point for the multi-process test: `torchrun --nproc_per_node 2 ddp_worker.py OUT BATCH`."""

import json
import sys
from pathlib import Path

from tlgen import Run

out, batch = sys.argv[1], int(sys.argv[2])
plugin = str(Path(__file__).with_name("charlm_plugin.py"))
run = Run.create(plugin, output_dir=out, device="cpu",
                 overrides=[f"train.batch_size={batch}", "train.max_steps=24", "before=false",
                            "train.eval_every=24", "train.save_every=24"])
summary = run.execute()
if run.is_main:
    print("RESULT " + json.dumps({"val": summary["train"]["best_val_loss"],
                                  "procs": run.accelerator.num_processes,
                                  "tokens": summary["train"]["tokens"]}))
