"""tlgen's shared trainer vs ``transformers.Trainer``: real tokens per second, one process.

The same small GPT-2, the same variable-length sequences (document lengths drawn from a
log-normal, 8..256 tokens, like lines-to-pages of text), the same batch size, one epoch
each, so both see exactly the same real tokens. Throughput counts real (non-padding)
tokens per second of wall time in the training call. transformers.Trainer is run as a
user gets it (pads each random batch to its longest sequence) and as a careful user
configures it, with ``train_sampling_strategy="group_by_length"``; tlgen with its
defaults (length-bucketed batches; GPT-2's python GELU swapped for torch's fused kernel,
``train.fused_activations``) and with each ``--variant`` (e.g. ``train.pack=256``:
padding-free packed rows; ``train.fused_activations=false``: the trainer before that).

One epoch is seconds long and a shared machine's speed drifts, so every side runs
``--repeats`` times, interleaved round by round (the order reversed every other round),
and each round's ratio pairs runs made side by side. Tokens per second of process CPU time
are printed beside wall time: with ``--threads 1`` they barely move when other processes
share the cores (with more threads, threads waiting for a descheduled sibling burn CPU
time too). The last line is the median wall-time ratio against the length-grouped
Trainer, with the spread (lowest..highest round) beside it.

    python benchmarks/trainer_vs_hf.py                     # ~5 minutes on 2 idle CPU cores
    python benchmarks/trainer_vs_hf.py --repeats 5 --threads 1 --variant train.pack=256
"""

from __future__ import annotations

import argparse
import tempfile
import time

from tlgen import hookimpl
from tlgen.config import DataSection

VOCAB, PAD, BOS = 512, 0, 1


def sequences(n: int, seed: int = 0) -> list[list[int]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(mean=4.0, sigma=0.8, size=n), 8, 256).astype(int)
    return [[BOS, *rng.integers(2, VOCAB, size=k - 1).tolist()] for k in lengths]


def new_model():
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_positions=256, n_embd=256, n_layer=4,
                                      n_head=4, bos_token_id=BOS, eos_token_id=BOS,
                                      pad_token_id=PAD))


# ---------------------------------------------------------------- tlgen side (a plugin)
class BenchData(DataSection):
    sequences: int = 512


@hookimpl
def config_schema():
    return {"data": BenchData}


@hookimpl
def load_backbone():
    from tlgen import Backbone

    return Backbone(model=new_model())


@hookimpl
def prepare_data(run):
    from tlgen import DataSplits
    from tlgen.data import CausalLMCollator, TokenSequences

    data = TokenSequences(sequences(run.config.data.sequences))
    return DataSplits(train=data, collate_fn=CausalLMCollator(PAD), lengths=data.lengths())


@hookimpl(wrapper=True)
def train():
    start, cpu = time.perf_counter(), time.process_time()
    result = yield
    result.summary["wall_seconds"] = time.perf_counter() - start
    result.summary["cpu_seconds"] = time.process_time() - cpu
    return result


@hookimpl
def sample():
    return []


@hookimpl
def evaluate():
    return {}


def run_tlgen(out: str, n: int, batch: int, threads: int,
              extra: tuple[str, ...] = ()) -> tuple[float, float, float | None]:
    """Tokens per second of wall time and of process CPU time in train, and the MFU the
    trainer logged."""
    from tlgen import Run
    from tlgen.report import read_metrics

    steps = -(-n // batch)
    run = Run.create(__file__, output_dir=out, device="cpu", overrides=[
        f"data.sequences={n}", f"train.max_steps={steps}", f"train.batch_size={batch}",
        "train.lr=3e-4", f"train.threads={threads}",
        "train.warmup_steps=2", f"train.save_every={steps}", f"train.eval_every={steps}",
        f"train.log_every={steps}", "before=false", *extra])
    summary = run.execute()
    mfu = [r.get("mfu") for r in read_metrics(run.dir) if r["split"] == "train"][-1]
    tokens = summary["train"]["tokens"]
    return tokens / summary["train"]["wall_seconds"], tokens / summary["train"]["cpu_seconds"], mfu


# ---------------------------------------------------------------- transformers.Trainer side
def run_hf(out: str, n: int, batch: int, group_by_length: bool) -> tuple[float, float, None]:
    """Tokens per second of wall time and of process CPU time in ``Trainer.train``."""
    from tokenizers import Tokenizer, models
    from transformers import (DataCollatorForLanguageModeling, PreTrainedTokenizerFast, Trainer,
                              TrainingArguments)

    vocab = {f"t{i}": i for i in range(VOCAB)}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, "t0")),
                                        pad_token="t0", bos_token="t1", eos_token="t1")
    data = [{"input_ids": s} for s in sequences(n)]
    args = TrainingArguments(
        output_dir=out, per_device_train_batch_size=batch, num_train_epochs=1,
        learning_rate=3e-4, warmup_steps=2, lr_scheduler_type="cosine", weight_decay=0.01,
        max_grad_norm=1.0, save_strategy="no", report_to=[], logging_steps=10_000,
        use_cpu=True, dataloader_num_workers=0,
        train_sampling_strategy="group_by_length" if group_by_length else "random",
        disable_tqdm=True, seed=0)
    trainer = Trainer(model=new_model(), args=args, train_dataset=data,
                      data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False))
    start, cpu = time.perf_counter(), time.process_time()
    trainer.train()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    tokens = sum(len(s["input_ids"]) for s in data)
    return tokens / seconds, tokens / cpu, None


def warm_up() -> None:
    """A few untimed steps so that neither contender pays for torch's first-call costs."""
    import torch

    model = new_model()
    ids = torch.randint(2, VOCAB, (16, 128))
    for _ in range(3):
        model(input_ids=ids, labels=ids).loss.backward()


def median_and_spread(values: list[float]) -> tuple[float, float, float]:
    import statistics

    return statistics.median(values), min(values), max(values)


def ratio_text(ours: list[float], theirs: list[float]) -> str:
    """The median of per-round ratios, with the lowest..highest beside it."""
    mid, low, high = median_and_spread([a / b for a, b in zip(ours, theirs)])
    return f"{mid:.2f}x ({low:.2f}..{high:.2f})"


HF_DEFAULT, HF_GROUPED, TLGEN = ("transformers.Trainer (default)",
                                 "transformers.Trainer (group_by_length)", "tlgen trainer")


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=512)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side (>= 3)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE[,...]",
                        help="another tlgen side with these --set overrides (repeatable)")
    parser.add_argument("--skip-default", action="store_true",
                        help="leave out transformers.Trainer's default (the slowest side)")
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error("--repeats: at least 3, so that the median means something")
    n, batch = args.sequences, args.batch
    torch.set_num_threads(args.threads)
    lengths = [len(s) for s in sequences(n)]
    print(f"{n} sequences, {sum(lengths):,} real tokens, lengths {min(lengths)}..{max(lengths)} "
          f"(mean {sum(lengths) / len(lengths):.0f}), batch {batch}, {args.threads} thread(s), "
          f"{args.repeats} interleaved rounds", flush=True)
    sides = {HF_GROUPED: lambda out: run_hf(out, n, batch, True),
             TLGEN: lambda out: run_tlgen(out, n, batch, args.threads)}
    if not args.skip_default:
        sides = {HF_DEFAULT: lambda out: run_hf(out, n, batch, False), **sides}
    for variant in args.variant:
        extra = tuple(variant.split(","))
        sides[f"{TLGEN}, {variant}"] = lambda out, extra=extra: run_tlgen(
            out, n, batch, args.threads, extra)
    warm_up()
    wall: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    mfu: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeats):
            order = list(sides) if round_ % 2 == 0 else list(sides)[::-1]  # cancels drift
            for name in order:
                per_wall, per_cpu, side_mfu = sides[name](f"{tmp}/{round_}-{len(wall[name])}-"
                                                          f"{list(sides).index(name)}")
                wall[name].append(per_wall)
                cpu[name].append(per_cpu)
                if name == TLGEN and side_mfu:
                    mfu.append(side_mfu)
            print(f"round {round_ + 1}: " + ", ".join(f"{v[-1]:,.0f}" for v in wall.values())
                  + " tokens/s", flush=True)
    width = max(len(name) for name in sides)
    print(f"{'':{width}}  tokens/s of wall time (median; spread)    tokens/s of CPU time")
    for name in sides:
        line = "  ".join(f"{mid:7,.0f} ({low:,.0f}..{high:,.0f})".ljust(28)
                         for mid, low, high in (median_and_spread(wall[name]),
                                                median_and_spread(cpu[name])))
        if name.startswith(TLGEN):
            line += (f"  vs group_by_length: {ratio_text(wall[name], wall[HF_GROUPED])}, "
                     f"in CPU time {ratio_text(cpu[name], cpu[HF_GROUPED])}")
        print(f"{name:{width}}  {line}")
    if mfu:
        print(f"tlgen MFU {median_and_spread(mfu)[0]:.1%} (median) of this CPU's fp32 matmul peak, "
              "measured in the same process and under the same load")
    if not args.skip_default:
        print(f"vs transformers.Trainer's default: {ratio_text(wall[TLGEN], wall[HF_DEFAULT])}")
    print(f"in CPU time (steadier where other processes share the cores): "
          f"{ratio_text(cpu[TLGEN], cpu[HF_GROUPED])}")
    print(f"ratio tlgen / transformers.Trainer(group_by_length) = "
          f"{ratio_text(wall[TLGEN], wall[HF_GROUPED])}: median of {args.repeats} interleaved "
          "rounds (spread)")


if __name__ == "__main__":
    main()
