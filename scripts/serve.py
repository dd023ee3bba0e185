"""Serve one checkpoint over HTTP: POST /predict (JSON, dynamic batching), GET /health, and a page at /."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnn_lightning.training.checkpoints import CheckpointError, find_best_checkpoint
from rnn_lightning.cli.arguments import Parser, fail
from rnn_lightning.models.denormals import flush_denormals
from rnn_lightning.serving.api import Limits, build_server

PROG = "serve.py"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--ckpt", default=None,
                        help="checkpoint file (default: the best checkpoint of the newest run under --logdir)")
    parser.add_argument("--logdir", default="lightning_logs", help="where to look for the default checkpoint")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--accelerator", default="cpu", choices=("cpu", "cuda", "auto"), help="where the model runs")
    parser.add_argument("--max-batch-size", type=int, default=32,
                        help="requests gathered into one forward pass (1: no batching)")
    parser.add_argument("--batch-timeout", type=float, default=0.005,
                        help="seconds to wait for more requests to fill a batch")
    parser.add_argument("--max-texts", type=int, default=Limits.max_texts, help="texts per request")
    parser.add_argument("--max-text-chars", type=int, default=Limits.max_text_chars, help="characters per text")
    parser.add_argument("--max-body-bytes", type=int, default=Limits.max_body_bytes, help="bytes per request body")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    flush_denormals()  # before PyTorch starts its worker threads, so that they flush too
    try:
        for flag in ("port", "max_batch_size", "max_texts", "max_text_chars", "max_body_bytes"):
            if getattr(args, flag) < 1:
                raise ValueError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
        if args.batch_timeout < 0:
            raise ValueError(f"--batch-timeout must not be negative, got {args.batch_timeout}")
        ckpt = Path(args.ckpt) if args.ckpt else find_best_checkpoint(args.logdir)
        limits = Limits(args.max_texts, args.max_text_chars, args.max_body_bytes)
        server = build_server(ckpt, limits, args.max_batch_size, args.batch_timeout, args.accelerator)
    except (CheckpointError, FileNotFoundError, ValueError) as error:
        return fail(PROG, error)
    print(f"{PROG}: serving {ckpt} on http://{args.host}:{args.port}/ (POST /predict, GET /health)", file=sys.stderr)
    server.run(host=args.host, port=args.port, generate_client_file=False, pretty_logs=False, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
