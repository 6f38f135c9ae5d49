"""Throughput and MFU: a device-side window of loss and counts between log lines (no host
sync per step, as in nanoGPT), read once per log line into loss, units/s and MFU."""

from __future__ import annotations

import functools
import time

import torch


class Meter:
    """Sums ``[loss x count, count, all processes' count]`` on the device; ``read`` turns
    the window since the last read into the mean loss, throughput and MFU."""

    def __init__(self, device: torch.device, flops_per_unit: float | None,
                 peak: float | None, processes: int) -> None:
        self.window = torch.zeros(3, device=device)
        self.flops_per_unit = flops_per_unit
        self.peak = peak
        self.processes = processes
        self.start = time.perf_counter()

    def restore(self, window: list[float]) -> None:
        """Start from a checkpoint's unlogged window, the clock from now."""
        self.window = torch.tensor(window, device=self.window.device)
        self.start = time.perf_counter()

    def add(self, loss_sum: torch.Tensor, count: torch.Tensor, everywhere: torch.Tensor) -> None:
        self.window += torch.stack([loss_sum, count, everywhere])

    def pause(self, seconds: float) -> None:
        """Leave ``seconds`` (evaluation, saving) out of the training time."""
        self.start += seconds

    def read(self) -> tuple[float, float, float, float | None, float]:
        """``(mean loss, units on all processes, units/s, MFU or None, seconds)``; resets."""
        loss_sum, count, everywhere = self.window.tolist()
        elapsed = time.perf_counter() - self.start
        rate = everywhere / max(elapsed, 1e-9)
        mfu = None
        if self.flops_per_unit and self.peak:
            mfu = self.flops_per_unit * rate / (self.peak * self.processes)
        self.window.zero_()
        self.start = time.perf_counter()
        return loss_sum / max(count, 1e-9), everywhere, rate, mfu, elapsed

    def state(self) -> list[float]:
        """The window not yet logged, for a checkpoint (a resumed run logs it as it would)."""
        return self.window.tolist()


def peak_flops(device: torch.device, precision: str) -> float | None:
    """The device's peak FLOP/s for MFU: a table for common GPUs (dense bf16/fp16, else
    TF32); on a CPU the best of several timed fp32 matmuls at this process's current thread
    count (measured once per thread count: a process that changes it, as runs with
    different ``train.threads`` do, gets the peak of the threads it trains with)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        half = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12,
                "L40": 181e12, "4090": 165e12, "3090": 71e12, "V100": 125e12, "T4": 65e12}
        for key, value in half.items():
            if key in name:
                return value if precision in ("bf16", "fp16") else value / 2
        return None
    return _cpu_peak_flops(torch.get_num_threads())


@functools.lru_cache(maxsize=None)
def _cpu_peak_flops(threads: int) -> float:
    """The best of five timings of four 1024^2 fp32 matmuls (``threads``: the cache key)."""
    a = torch.full((1024, 1024), 0.5)  # not torch.randn: the global RNG is the run's
    torch.mm(a, a)
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(4):
            torch.mm(a, a)
        best = max(best, 4 * 2 * 1024**3 / (time.perf_counter() - start))
    return best
