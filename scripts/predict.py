"""Classify raw reviews with one checkpoint: positive or negative, with the probability of positive."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from rnn_lightning.checkpoints import find_best_checkpoint
from rnn_lightning.denormals import flush_denormals
from rnn_lightning.inference import CheckpointError, load_model
from rnn_lightning.text import tokenize


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("reviews", nargs="*", help="reviews to classify (else --file, else standard input)")
    parser.add_argument("--ckpt", default=None,
                        help="checkpoint file (default: the best checkpoint of the newest run under --logdir)")
    parser.add_argument("--logdir", default="lightning_logs", help="where to look for the default checkpoint")
    parser.add_argument("--file", type=Path, default=None, help="read one review per line from this file (UTF-8)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per review")
    parser.add_argument("--accelerator", default="cpu", help="cpu, gpu or auto")
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


def classify(ckpt: Path, texts: list[str], accelerator: str, batch_size: int) -> list[float]:
    """Run the checkpoint's model over the texts through ``Trainer.predict`` (any accelerator, any size)."""
    model = load_model(ckpt)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # keep the output to the verdicts
    ids = torch.from_numpy(model.encoder.encode(texts))
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    trainer = L.Trainer(accelerator=accelerator, devices=1, logger=False, enable_checkpointing=False,
                        enable_model_summary=False, enable_progress_bar=len(texts) > 10 * batch_size)
    batches = trainer.predict(model, DataLoader(ids, batch_size=batch_size))
    return torch.cat(batches).tolist()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    flush_denormals()  # before PyTorch starts its worker threads, so that they flush too
    try:
        ckpt = Path(args.ckpt) if args.ckpt else find_best_checkpoint(args.logdir)
        reviews = read_reviews(args)
        good = [text for _, text, error in reviews if error is None]
        probabilities = iter(classify(ckpt, good, args.accelerator, args.batch_size) if good else [])
    except (CheckpointError, FileNotFoundError, IsADirectoryError) as error:
        print(f"predict.py: error: {error}", file=sys.stderr)
        return 2
    if not args.json:
        print(f"{'label':<9} {'p(pos)':>6}  review")
    failed = 0
    for where, text, error in reviews:
        if error is not None:
            failed += 1
            print(f"predict.py: error: {where}: {error}", file=sys.stderr)
            continue
        probability = next(probabilities)
        label = "positive" if probability >= 0.5 else "negative"
        if args.json:
            print(json.dumps({"label": label, "probability": round(probability, 6), "text": text}))
        else:
            start = " ".join(text.split())
            print(f"{label:<9} {probability:>6.3f}  {start[:60] + ('...' if len(start) > 60 else '')}")
    if not reviews:
        print("predict.py: error: no reviews given (arguments, --file or standard input)", file=sys.stderr)
    return 2 if failed or not reviews else 0


if __name__ == "__main__":
    sys.exit(main())
