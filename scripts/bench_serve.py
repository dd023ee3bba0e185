"""Load-test the HTTP API on loopback: throughput and p50/p99 latency, with and without dynamic batching.

Starts scripts/serve.py for the checkpoint once per setting, sends the same requests from concurrent
clients, checks every answer against rnn_lightning.predict, and prints one Markdown table.

Example:
  python scripts/bench_serve.py --ckpt runs/rnn_final/version_0/checkpoints/last.ckpt --requests 2000 --clients 32
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from rnn_lightning.cli.arguments import Parser, fail
from rnn_lightning.serving.inference import load_model, predict
from rnn_lightning.serving.loadtest import LoadResult, free_port, run_load, running_server
from rnn_lightning.training.checkpoints import CheckpointError, find_best_checkpoint

PROG = "bench_serve.py"
SERVE = Path(__file__).with_name("serve.py")
REVIEWS = [
    "A moving, beautifully acted film with a wonderful ending.",
    "Dull, pointless and far too long. I want my two hours back.",
    "The plot is thin but the actors are great and the music is superb.",
    "I hated every minute: awful dialogue, terrible pacing, a boring story.",
]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", default=None, help="checkpoint (default: the best of the newest run under --logdir)")
    parser.add_argument("--logdir", default="lightning_logs", help="where to look for the default checkpoint")
    parser.add_argument("--requests", type=int, default=2000, help="requests per setting")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--texts-per-request", type=int, default=1, help="texts in each request")
    parser.add_argument("--max-batch-size", type=int, nargs="+", default=[1, 32],
                        help="settings to compare (1: no batching)")
    return parser


def measure(ckpt: Path, expected: list[float], max_batch_size: int, requests: int, clients: int,
            texts_per_request: int) -> LoadResult:
    """Serve ``ckpt`` with one batching setting and send it the load; every answer is checked against ``expected``."""
    bodies = [{"texts": [REVIEWS[(i + j) % len(REVIEWS)] for j in range(texts_per_request)]} for i in range(requests)]

    def check(index: int, status: int, answer: dict) -> bool:
        if status != 200:
            return False
        positives = [result["probabilities"]["positive"] for result in answer["results"]]
        wanted = [expected[(index + j) % len(REVIEWS)] for j in range(texts_per_request)]
        return all(math.isclose(p, q, abs_tol=1e-5) for p, q in zip(positives, wanted, strict=True))

    port = free_port()
    command = [sys.executable, str(SERVE), "--ckpt", str(ckpt), "--port", str(port),
               "--max-batch-size", str(max_batch_size)]
    with running_server(command, f"http://127.0.0.1:{port}"):
        return run_load(f"http://127.0.0.1:{port}/predict", bodies, clients, check)


def format_table(rows: list[tuple[int, LoadResult]], clients: int) -> str:
    lines = ["| batching | requests | clients | wrong | requests/s | p50 ms | p99 ms |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for max_batch_size, result in rows:
        setting = "off" if max_batch_size == 1 else f"max_batch_size={max_batch_size}"
        lines.append(f"| {setting} | {result.requests} | {clients} | {result.wrong} | {result.per_second:.0f} "
                     f"| {result.p50_ms:.1f} | {result.p99_ms:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        ckpt = Path(args.ckpt) if args.ckpt else find_best_checkpoint(args.logdir)
        expected = predict(load_model(ckpt), REVIEWS)  # what every answer must say, from the same checkpoint
    except (CheckpointError, FileNotFoundError) as error:
        return fail(PROG, error)
    rows = []
    for max_batch_size in args.max_batch_size:
        rows.append((max_batch_size, measure(ckpt, expected, max_batch_size, args.requests, args.clients,
                                             args.texts_per_request)))
        print(f"measured max_batch_size={max_batch_size}", file=sys.stderr)
    print(format_table(rows, args.clients))
    return 1 if any(result.wrong or result.requests != args.requests for _, result in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
