"""Load-test the HTTP API on loopback: throughput and p50/p99 latency of predictions, beside explanations.

Starts ``rnn-lightning serve`` for the checkpoint once per setting, sends the same requests from concurrent
clients, checks every answer (every class's probability) against ``predict_proba``, and prints one Markdown
table. With ``--explain_clients N``, N more clients keep asking POST /explain meanwhile, as the page does:
the predictions' latency under that mixed load is what the separate explanation workers are for.

Example:
  rnn-lightning loadtest --ckpt runs/rnn_final/version_0/checkpoints/last.ckpt --requests 2000 --clients 32
"""

from __future__ import annotations

import sys
from pathlib import Path

from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, new_parser

REVIEWS = [
    "A moving, beautifully acted film with a wonderful ending.",
    "Dull, pointless and far too long. I want my two hours back.",
    "The plot is thin but the actors are great and the music is superb.",
    "I hated every minute: awful dialogue, terrible pacing, a boring story.",
]


def parser() -> ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument("--ckpt", type=str | None, default=None,
                        help="checkpoint (default: the best of the newest run under --logdir)")
    parser.add_argument("--logdir", default="lightning_logs", help="where to look for the default checkpoint")
    parser.add_argument("--requests", type=int, default=2000, help="requests per setting")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--texts_per_request", type=int, default=1, help="texts in each request")
    parser.add_argument("--max_batch_size", type=int, nargs="+", default=[1, 32],
                        help="settings to compare (1: no batching)")
    parser.add_argument("--explain_clients", type=int, nargs="+", default=[0, 4],
                        help="clients asking for explanations meanwhile, per setting (0: plain load only)")
    return parser


def run(invocation: Invocation) -> int:
    from rnn_lightning.models.saved import CheckpointError, find_best_checkpoint
    from rnn_lightning.serving.inference import load_model, predict_proba
    from rnn_lightning.serving.loadtest import measure_server

    args = invocation.config
    try:
        ckpt = Path(args.ckpt) if args.ckpt else find_best_checkpoint(args.logdir)
        model = load_model(ckpt)
        expected = predict_proba(model, REVIEWS)  # what every answer must say, from the same checkpoint
    except (CheckpointError, FileNotFoundError, ValueError) as error:
        return invocation.fail(error)
    rows = []
    for max_batch_size in args.max_batch_size:
        for explain_clients in args.explain_clients:
            serve = [sys.executable, "-m", "rnn_lightning.cli.main", "serve", "--ckpt", str(ckpt),
                     "--server.max_batch_size", str(max_batch_size)]
            result, explained = measure_server(serve, REVIEWS, expected, model.class_names, args.requests,
                                               args.clients, args.texts_per_request, explain_clients)
            rows.append((max_batch_size, explain_clients, explained, result))
            print(f"measured max_batch_size={max_batch_size}, explain_clients={explain_clients}", file=sys.stderr)
    lines = ["| batching | explain clients | explained | requests | clients | wrong | requests/s | p50 ms | p99 ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for max_batch_size, explain_clients, explained, result in rows:
        setting = "off" if max_batch_size == 1 else f"max_batch_size={max_batch_size}"
        lines.append(f"| {setting} | {explain_clients} | {explained} | {result.requests} | {args.clients} "
                     f"| {result.wrong} | {result.per_second:.0f} | {result.p50_ms:.1f} | {result.p99_ms:.1f} |")
    print("\n".join(lines))
    return 1 if any(result.wrong or result.requests != args.requests for *_, result in rows) else 0
