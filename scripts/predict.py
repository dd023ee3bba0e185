"""Classify raw reviews with one checkpoint: positive or negative, with the probability of positive."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
from tqdm.auto import tqdm

from rnn_lightning.checkpoints import find_best_checkpoint
from rnn_lightning.cli import Parser, fail
from rnn_lightning.denormals import flush_denormals
from rnn_lightning.inference import CheckpointError, iter_probabilities, load_model
from rnn_lightning.text import tokenize

PROG = "predict.py"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("reviews", nargs="*", help="reviews to classify (else --file, else standard input)")
    parser.add_argument("--ckpt", default=None,
                        help="checkpoint file (default: the best checkpoint of the newest run under --logdir)")
    parser.add_argument("--logdir", default="lightning_logs", help="where to look for the default checkpoint")
    parser.add_argument("--file", type=Path, default=None, help="read one review per line from this file (UTF-8)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per review")
    parser.add_argument("--accelerator", default="cpu", choices=("cpu", "gpu", "auto"), help="where the model runs")
    parser.add_argument("--batch-size", type=int, default=256, help="reviews per forward pass")
    return parser


def read_reviews(args: argparse.Namespace) -> list[tuple[str, str | None, str | None]]:
    """Return ``(where, text, error)`` per review; a bad line is reported, never allowed to lose the others."""
    if args.reviews:
        raw = [(f"argument {i}", text.encode("utf-8", "surrogateescape")) for i, text in enumerate(args.reviews, 1)]
    else:
        data = args.file.read_bytes() if args.file else sys.stdin.buffer.read()
        raw = [(f"line {i}", line) for i, line in enumerate(data.splitlines(), 1)]
    reviews = []
    for where, line in raw:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            reviews.append((where, None, "not valid UTF-8"))
            continue
        reviews.append((where, text, None if tokenize(text) else "empty review: no words to classify"))
    return reviews


def _device(accelerator: str) -> torch.device:
    if accelerator == "gpu" and not torch.cuda.is_available():
        raise ValueError("--accelerator gpu: no CUDA device is visible")
    use_cuda = accelerator == "gpu" or (accelerator == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if use_cuda else "cpu")


def _with_progress(batches: Iterator[list[float]], total: int) -> Iterator[list[float]]:
    """Show progress on stderr, and only when stderr is a terminal: stdout carries the verdicts alone."""
    with tqdm(total=total, unit="review", file=sys.stderr, disable=None, leave=False) as bar:
        for batch in batches:
            bar.update(len(batch))
            yield batch


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    flush_denormals()  # before PyTorch starts its worker threads, so that they flush too
    try:
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
        device = _device(args.accelerator)
        ckpt = Path(args.ckpt) if args.ckpt else find_best_checkpoint(args.logdir)
        model = load_model(ckpt, map_location=device)
        reviews = read_reviews(args)
    except (CheckpointError, FileNotFoundError, IsADirectoryError, ValueError) as error:
        return fail(PROG, error)
    if not reviews:
        return fail(PROG, "no reviews given (arguments, --file or standard input)")
    good = [text for _, text, error in reviews if error is None]
    batches = _with_progress(iter_probabilities(model, good, args.batch_size), len(good))
    probabilities = (p for batch in batches for p in batch)
    if not args.json:
        print(f"{'label':<9} {'p(pos)':>6}  review")
    failed = 0
    for where, text, error in reviews:
        if error is not None:
            failed += 1
            print(f"{PROG}: error: {where}: {error}", file=sys.stderr)
            continue
        probability = next(probabilities)
        label = "positive" if probability >= 0.5 else "negative"
        if args.json:
            print(json.dumps({"label": label, "probability": round(probability, 6), "text": text}))
        else:
            start = " ".join(text.split())
            print(f"{label:<9} {probability:>6.3f}  {start[:60] + ('...' if len(start) > 60 else '')}")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
