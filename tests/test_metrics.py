"""The server's Prometheus metrics (:mod:`rnn_lightning.serving.metrics`), read back as Prometheus parses them."""

from __future__ import annotations

import multiprocessing

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from rnn_lightning.serving.metrics import LATENCY_BUCKETS, Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample that ``/metrics`` answers, by name and labels, parsed from the exposition format."""
    response = metrics.endpoint()
    assert response.media_type == CONTENT_TYPE_LATEST
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.body.decode())
            for sample in family.samples}


@pytest.mark.parametrize("path", ["/predict", "/explain", "/health", "/classes", "/metrics", "/"])
def test_each_path_of_the_server_is_counted_under_its_own_name(path):
    metrics = Metrics(max_batch_size=2)
    metrics.observe(path, 200, 0.01)
    metrics.observe("/docs/../etc/passwd", 404, 0.01)  # anything else: one label, whatever the client asks
    read = samples(metrics)
    assert read[("rnn_lightning_requests_total", (("path", path), ("status", "200")))] == 1
    assert read[("rnn_lightning_requests_total", (("path", "other"), ("status", "404")))] == 1
    assert {labels for name, labels in read if name == "rnn_lightning_requests_total"} == {
        (("path", path), ("status", "200")), (("path", "other"), ("status", "404"))}


def test_a_4xx_or_5xx_answer_is_an_error_and_nothing_below_400_is():
    metrics = Metrics(max_batch_size=2)
    for status in (200, 304, 399, 400, 401, 413, 503):
        metrics.observe("/predict", status, 0.01)
    assert samples(metrics)[("rnn_lightning_errors_total", (("path", "/predict"),))] == 4


def test_latency_is_counted_in_the_servers_own_buckets():
    metrics = Metrics(max_batch_size=2)
    metrics.observe("/predict", 200, 0.007)
    metrics.observe("/predict", 200, 20.0)
    buckets = {dict(labels)["le"]: value for (name, labels), value in samples(metrics).items()
               if name == "rnn_lightning_request_seconds_bucket"}
    assert list(buckets) == [str(bound) for bound in LATENCY_BUCKETS] + ["+Inf"]
    assert (buckets["0.005"], buckets["0.01"], buckets["10.0"], buckets["30.0"], buckets["+Inf"]) == (0, 1, 1, 2, 2)


def test_batch_sizes_are_a_cumulative_histogram_of_requests_per_pass():
    metrics = Metrics(max_batch_size=3)
    metrics.batch_sizes[1] = 2  # two passes of one request, none of two, three of three
    metrics.batch_sizes[3] = 3
    read = samples(metrics)
    buckets = {dict(labels)["le"]: value for (name, labels), value in read.items()
               if name == "rnn_lightning_batch_size_bucket"}
    assert buckets == {"1": 2, "2": 2, "3": 5, "+Inf": 5}
    assert read[("rnn_lightning_batch_size_count", ())] == 5
    assert read[("rnn_lightning_batch_size_sum", ())] == 11  # requests answered: 2 x 1 + 3 x 3


def count_a_batch_of_two(batch_sizes) -> None:
    with batch_sizes.get_lock():
        batch_sizes[2] += 1


def test_the_counts_are_shared_with_workers_started_as_litserve_starts_them():
    metrics = Metrics(max_batch_size=2)
    worker = multiprocessing.get_context("spawn").Process(target=count_a_batch_of_two, args=(metrics.batch_sizes,))
    worker.start()
    worker.join(timeout=60)
    assert worker.exitcode == 0
    assert list(metrics.batch_sizes) == [0, 0, 1]
