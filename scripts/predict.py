"""Classify raw texts with one checkpoint: the label, and the probability of every class."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from tqdm.auto import tqdm

from rnn_lightning.training.checkpoints import find_best_checkpoint
from rnn_lightning.cli.arguments import Parser, fail
from rnn_lightning.models.denormals import flush_denormals
from rnn_lightning.serving.inference import CheckpointError, load_model, most_likely, predict_proba
from rnn_lightning.data.text import chunked, tokenize

PROG = "predict.py"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("reviews", nargs="*", help="texts to classify (else --file, else standard input)")
    parser.add_argument("--ckpt", default=None,
                        help="checkpoint file (default: the best checkpoint of the newest run under --logdir)")
    parser.add_argument("--logdir", default="lightning_logs", help="where to look for the default checkpoint")
    parser.add_argument("--file", type=Path, default=None,
                        help="read one text per line from this file (UTF-8), streamed")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per text: label, probabilities, text")
    parser.add_argument("--accelerator", default="cpu", choices=("cpu", "gpu", "auto"), help="where the model runs")
    parser.add_argument("--batch-size", type=int, default=256, help="texts per forward pass")
    return parser


def iter_reviews(args: argparse.Namespace) -> Iterator[tuple[str, str | None, str | None]]:
    """Yield ``(where, text, error)`` per review, reading a file line by line (never whole).

    A bad line is reported, never allowed to lose the others.
    """
    if args.reviews:
        lines: Iterable[tuple[str, bytes]] = ((f"argument {i}", text.encode("utf-8", "surrogateescape"))
                                              for i, text in enumerate(args.reviews, 1))
    else:
        lines = ((f"line {i}", line) for i, line in enumerate(_lines(args.file), 1))
    for where, line in lines:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            yield where, None, "not valid UTF-8"
            continue
        yield where, text, None if tokenize(text) else "empty review: no words to classify"


def _lines(path: Path | None) -> Iterator[bytes]:
    """Lines of a file or of standard input, without their line ends, read as they come."""
    with path.open("rb") if path else contextlib.nullcontext(sys.stdin.buffer) as handle:
        for line in handle:
            yield line.rstrip(b"\r\n")


def _device(accelerator: str) -> torch.device:
    if accelerator == "gpu" and not torch.cuda.is_available():
        raise ValueError("--accelerator gpu: no CUDA device is visible")
    use_cuda = accelerator == "gpu" or (accelerator == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if use_cuda else "cpu")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    flush_denormals()  # before PyTorch starts its worker threads, so that they flush too
    try:
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
        if args.file is not None and not args.file.is_file():
            raise FileNotFoundError(f"--file {args.file}: no such file")
        device = _device(args.accelerator)
        ckpt = Path(args.ckpt) if args.ckpt else find_best_checkpoint(args.logdir)
        model = load_model(ckpt, map_location=device)
    except (CheckpointError, FileNotFoundError, ValueError) as error:
        return fail(PROG, error)
    names = model.class_names
    header = None if args.json else ("label".ljust(_label_width(names))
                                     + "".join(f"{f'p({name})':>{_column_width(name)}}" for name in names) + "  review")
    seen = failed = 0
    # Chunk by chunk, so that memory stays flat however long the file; progress on stderr, and only on a terminal.
    with tqdm(unit="review", file=sys.stderr, disable=None, leave=False) as progress:
        for chunk in chunked(iter_reviews(args), args.batch_size):
            good = [text for _, text, error in chunk if error is None]
            rows = iter(predict_proba(model, good, args.batch_size))
            for where, text, error in chunk:
                seen += 1
                if error is not None:
                    failed += 1
                    print(f"{PROG}: error: {where}: {error}", file=sys.stderr)
                else:
                    if header is not None:  # printed before the first verdict: nothing on stdout without one
                        print(header)
                        header = None
                    _print_verdict(text, next(rows), names, args.json)
            progress.update(len(chunk))
    if seen == 0:
        return fail(PROG, "no reviews given (arguments, --file or standard input)")
    return 2 if failed else 0


def _print_verdict(text: str, probabilities: list[float], names: tuple[str, ...], as_json: bool) -> None:
    label = names[most_likely(probabilities)]
    if as_json:
        print(json.dumps({"label": label, "probabilities": {name: round(p, 6) for name, p in
                                                            zip(names, probabilities, strict=True)}, "text": text}))
        return
    start = " ".join(text.split())
    columns = "".join(f"{p:>{_column_width(name)}.3f}" for name, p in zip(names, probabilities, strict=True))
    print(f"{label.ljust(_label_width(names))}{columns}  {start[:60] + ('...' if len(start) > 60 else '')}")


def _label_width(names: tuple[str, ...]) -> int:
    return max(len("label"), *(len(name) for name in names)) + 1


def _column_width(name: str) -> int:
    return max(len(f"p({name})"), 5) + 1


if __name__ == "__main__":
    sys.exit(main())
