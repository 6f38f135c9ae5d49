"""What ``tlgen serve`` counts and keeps: Prometheus metrics (prometheus-client, one registry
per app) and the served-artefact log that ``tlgen monitor`` reads (rotating JSONL)."""

from __future__ import annotations

import json
import logging
import math
import os
from collections import deque
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
ITEM_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServeMetrics:
    """The server's Prometheus metrics; histograms are named by what they time.

    Live quality: ``tlgen_item_metric_rolling_mean{metric=...}``, the mean of each numeric
    per-item metric (booleans as 0/1: rolling validity) over the last ``window`` artefacts.
    """

    def __init__(self, window: int = 1000):
        self.registry = r = CollectorRegistry()
        self.requests = Counter("tlgen_requests", "HTTP requests answered",
                                ["endpoint", "status"], registry=r)
        self.items = Counter("tlgen_items", "Artefacts served", ["endpoint"], registry=r)
        self.errors = Counter("tlgen_errors", "Refused or failed requests by kind", ["kind"],
                              registry=r)
        self.request_seconds = Histogram(
            "tlgen_request_seconds", "End-to-end latency of a request (body read to answer)",
            ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue_seconds = Histogram(
            "tlgen_queue_wait_seconds", "Time a generate request waited for its sampler batch",
            buckets=LATENCY_BUCKETS, registry=r)
        self.batch_seconds = Histogram(
            "tlgen_sample_batch_seconds", "Time of one sample hook call (a merged batch)",
            buckets=LATENCY_BUCKETS, registry=r)
        self.item_metrics_seconds = Histogram(
            "tlgen_item_metrics_seconds", "Time of one item_metrics hook call (a merged batch)",
            buckets=LATENCY_BUCKETS, registry=r)
        self.batch_items = Histogram("tlgen_sample_batch_items", "Artefacts per sample call",
                                     buckets=ITEM_BUCKETS, registry=r)
        self.first_token_seconds = Histogram(
            "tlgen_time_to_first_token_seconds", "Completions: request start to first token",
            buckets=LATENCY_BUCKETS, registry=r)
        self.inter_token_seconds = Histogram(
            "tlgen_inter_token_seconds", "Completions: time between two tokens of a stream",
            buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("tlgen_queue_depth", "Artefacts waiting for a sampler batch",
                                 registry=r)
        self.in_flight = Gauge("tlgen_in_flight_items",
                               "Artefacts admitted and not yet answered", registry=r)
        self.drawn_ahead = Gauge("tlgen_drawn_ahead_items",
                                 "Artefacts drawn and scored ahead, not yet served", registry=r)
        self.rolling = Gauge("tlgen_item_metric_rolling_mean",
                             "Mean of a per-item metric over the last served artefacts",
                             ["metric"], registry=r)
        self._recent: dict[str, deque] = {}
        self.window = window

    def observe_rows(self, rows: list[dict[str, Any]]) -> None:
        """Feed the rolling gauges with served artefacts' metric rows."""
        for row in rows:
            for name, value in row.items():
                if isinstance(value, (bool, int, float)) and not (
                        isinstance(value, float) and math.isnan(value)):
                    recent = self._recent.setdefault(name, deque(maxlen=self.window))
                    recent.append(float(value))
        for name, recent in self._recent.items():
            self.rolling.labels(metric=name).set(sum(recent) / len(recent))


class ServedLog:
    """Every served artefact as one JSON line (request id, time, parameters, seed, artefact,
    its metrics, latency) in ``folder/served[-TAG].jsonl``, rotated at ``max_bytes`` with
    ``backups`` old files kept. A process writes its own file (``tag``: a Ray replica)."""

    def __init__(self, folder: str | Path, max_bytes: int = 50_000_000, backups: int = 20,
                 tag: str | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / (f"served-{tag}.jsonl" if tag else "served.jsonl")
        self.logger = logging.getLogger(f"tlgen.served.{os.getpid()}.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        self.handler = RotatingFileHandler(self.path, maxBytes=max_bytes, backupCount=backups,
                                           encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(message)s"))
        self.logger.addHandler(self.handler)

    def write(self, request_id: str, params: dict, seed: int | None, artefacts: list,
              rows: list[dict], latency_s: float, when: float) -> None:
        for i, (artefact, row) in enumerate(zip(artefacts, rows)):
            self.logger.info(json.dumps({
                "time": when, "request_id": request_id, "index": i, "params": params,
                "seed": seed, "artefact": artefact, "metrics": row,
                "latency_s": round(latency_s, 6)}, default=_plain))

    def close(self) -> None:
        self.logger.removeHandler(self.handler)
        self.handler.close()


def _plain(value: Any) -> Any:
    """numpy scalars and other number-likes as plain JSON numbers, else text."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
