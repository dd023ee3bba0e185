"""Serve one checkpoint over HTTP: POST /predict (JSON, dynamic batching), GET /health, and a page at /."""

from __future__ import annotations

import sys
from pathlib import Path

from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, add_settings, new_parser


def parser() -> ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument("--ckpt", type=str | None, default=None,
                        help="checkpoint file (default: the best checkpoint of the newest run under --logdir)")
    parser.add_argument("--logdir", default="lightning_logs", help="where to look for the default checkpoint")
    add_settings(parser, "server")
    return parser


def run(invocation: Invocation) -> int:
    from rnn_lightning.cli.process import prepare_torch

    prepare_torch()  # before torch starts its worker threads, so that they flush subnormals too
    from rnn_lightning.serving.api import build_server
    from rnn_lightning.training.checkpoints import CheckpointError, find_best_checkpoint

    args = invocation.settings()
    try:
        ckpt = Path(args.ckpt) if args.ckpt else find_best_checkpoint(args.logdir)
        server = build_server(ckpt, args.server)
    except (CheckpointError, FileNotFoundError, ValueError) as error:
        return invocation.fail(error)
    where = f"http://{args.server.host}:{args.server.port}/"
    print(f"{invocation.prog}: serving {ckpt} on {where} (POST /predict, GET /health)", file=sys.stderr)
    server.run(host=args.server.host, port=args.server.port, generate_client_file=False, pretty_logs=False,
               log_level="warning")
    return 0
