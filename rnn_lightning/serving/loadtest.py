"""A bounded HTTP load: concurrent clients on keep-alive connections, every answer checked, latency percentiles."""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse


@dataclass(frozen=True)
class LoadResult:
    """What a load run measured.

    Attributes:
        requests: Requests sent (and answered).
        wrong: Answers that failed the check (a non-200 status included).
        seconds: Wall time from the first request to the last answer.
        p50_ms: Median latency of one request.
        p99_ms: 99th percentile latency.
        errors: The first few connection errors, if any (each also counted as wrong).
    """

    requests: int
    wrong: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: tuple[str, ...] = ()  # the first few connection errors, if any

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def run_load(url: str, bodies: Sequence[dict], clients: int, check: Callable[[int, int, dict], bool]) -> LoadResult:
    """POST every body once, spread over ``clients`` concurrent connections, and check every answer.

    Args:
        url: The endpoint, e.g. ``http://127.0.0.1:8000/predict``.
        bodies: JSON bodies to send; body ``i`` goes to client ``i % clients``.
        clients: Concurrent clients, one keep-alive connection each.
        check: ``check(i, status, answer)`` says whether body ``i`` got the right answer.
    """
    target = urlparse(url)
    latencies: list[float] = []
    errors: list[str] = []
    wrong = 0
    lock = threading.Lock()

    def client(first: int) -> None:
        nonlocal wrong
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            for index in range(first, len(bodies), clients):
                payload = json.dumps(bodies[index]).encode()
                started = time.perf_counter()
                try:
                    connection.request("POST", target.path, payload, {"Content-Type": "application/json"})
                    response = connection.getresponse()
                    status, answer = response.status, json.loads(response.read() or b"null")
                except (http.client.HTTPException, OSError) as error:  # counted as wrong, never lost
                    status, answer = 0, {"error": repr(error)}
                    errors.append(repr(error))
                    connection.close()
                    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    wrong += not check(index, status, answer)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(first,)) for first in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    percentiles = statistics.quantiles(latencies, n=100)
    return LoadResult(len(latencies), wrong, seconds, 1000 * statistics.median(latencies), 1000 * percentiles[98],
                      tuple(errors[:5]))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(command: Sequence[str], base_url: str, timeout: float = 180.0) -> Iterator[subprocess.Popen]:
    """Start a server process, wait until ``base_url/health`` answers 200, and stop it (SIGTERM, then kill) after.

    Raises:
        RuntimeError: If the process exits, or is not healthy within ``timeout`` seconds; with its stderr.
    """
    # Its stderr (an access-log line per request) goes to a file: a pipe nobody reads would fill and stall it.
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(list(command), stdout=subprocess.DEVNULL, stderr=log, text=True,
                                   start_new_session=True)  # its own process group: its workers stop with it
        try:
            deadline = time.monotonic() + timeout
            while not _healthy(base_url):
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    log.seek(0)
                    raise RuntimeError(f"server did not come up: {log.read()[-3000:]}")
                time.sleep(0.2)
            yield process
        finally:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextlib.contextmanager
def explain_pressure(url: str, texts: Sequence[str], clients: int) -> Iterator[list[int]]:
    """While the block runs, ``clients`` clients ask ``url`` (``/explain``) to explain ``texts``, one after another.

    Yields:
        A one-item list: the explanations answered (200) so far; read it after the block.
    """
    answered, stop = [0], threading.Event()
    target = urlparse(url)

    def client(first: int) -> None:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        index = first
        try:
            while not stop.is_set():
                body = json.dumps({"texts": [texts[index % len(texts)]]}).encode()
                connection.request("POST", target.path, body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                answered[0] += response.status == 200
                index += clients
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(first,), daemon=True) for first in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield answered
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)


def measure_server(serve: Sequence[str], texts: Sequence[str], expected: Sequence[Sequence[float]],
                   class_names: Sequence[str], requests: int, clients: int, texts_per_request: int,
                   explain_clients: int = 0) -> tuple[LoadResult, int]:
    """Start the server ``serve`` (a command, to which ``--server.port`` is added) and send it the load.

    Request ``i`` holds ``texts_per_request`` of ``texts`` from position ``i`` on, cyclically; every answer is
    checked against ``expected``, the probability of every class of each text. Meanwhile ``explain_clients``
    clients keep asking for explanations, as the page does.

    Returns:
        The plain requests' measurements, and how many explanations were answered meanwhile.
    """
    bodies = [{"texts": [texts[(i + j) % len(texts)] for j in range(texts_per_request)]} for i in range(requests)]

    def check(index: int, status: int, answer: dict) -> bool:
        if status != 200:
            return False
        got = [[result["probabilities"][name] for name in class_names] for result in answer["results"]]
        wanted = [expected[(index + j) % len(texts)] for j in range(texts_per_request)]
        return all(math.isclose(p, q, abs_tol=1e-5) for row, want in zip(got, wanted, strict=True)
                   for p, q in zip(row, want, strict=True))

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running_server([*serve, "--server.port", str(port)], base), \
            explain_pressure(f"{base}/explain", texts, explain_clients) as explained:
        return run_load(f"{base}/predict", bodies, clients, check), explained[0]
