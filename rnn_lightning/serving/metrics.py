"""Prometheus metrics of the server: requests, latency, errors, and the batch sizes the model ran."""

from __future__ import annotations

import multiprocessing

from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import HistogramMetricFamily

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """One registry for the server's HTTP side (the API servers run as threads of one process).

    The batch sizes are counted in the inference workers' processes, in shared memory (:attr:`batch_sizes`,
    handed to the workers), and read from there when ``/metrics`` is asked.

    Args:
        max_batch_size: The largest batch a worker may run.
    """

    def __init__(self, max_batch_size: int) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("rnn_lightning_requests", "HTTP requests answered, by path and status",
                                ["path", "status"], registry=self.registry)
        self.latency = Histogram("rnn_lightning_request_seconds", "Time to answer a request, by path", ["path"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter("rnn_lightning_errors", "Requests answered with a 4xx or 5xx status, by path",
                              ["path"], registry=self.registry)
        self.batch_sizes = multiprocessing.get_context("spawn").Array("q", max_batch_size + 1)
        self.registry.register(_BatchSizes(self.batch_sizes))

    def observe(self, path: str, status: int, seconds: float) -> None:
        """Count one answered request (paths outside the API are counted under ``other``)."""
        path = path if path in ("/predict", "/explain", "/health", "/classes", "/metrics", "/") else "other"
        self.requests.labels(path, str(status)).inc()
        self.latency.labels(path).observe(seconds)
        if status >= 400:
            self.errors.labels(path).inc()

    def endpoint(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class _BatchSizes:
    """The shared counts of batch sizes, as a Prometheus histogram (bucket ``le=n``: batches of n requests or less)."""

    def __init__(self, counts: multiprocessing.Array) -> None:
        self.counts = counts

    def collect(self):  # noqa: ANN201 - the collector protocol of prometheus_client
        counts = list(self.counts)
        cumulative, buckets = 0, []
        for size in range(1, len(counts)):
            cumulative += counts[size]
            buckets.append((str(size), cumulative))
        buckets.append(("+Inf", cumulative))
        total = sum(size * count for size, count in enumerate(counts))
        family = HistogramMetricFamily("rnn_lightning_batch_size", "Requests per forward pass of /predict")
        family.add_metric([], buckets, total)
        yield family
