"""Classify raw texts with one checkpoint (or its exported .onnx form): the label and every class's probability."""

from __future__ import annotations

import contextlib
import json
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, new_parser

# The most texts per forward pass, by default. onnxruntime pays a fixed cost for every step of every run (its
# Scan), so an exported model gains from runs of many rows (IMDB's 25,000 test reviews on an Intel Xeon, start-up
# included: 4.7 s against 6.8 s at 256, fastest of three; docs/performance.md). A checkpoint runs a batch's rows
# sorted by length, 64 at a time: the more rows it sorts, the less padding each group reads (on an AMD EPYC Zen 4:
# 4.20 s at 1,024, 4.28 s at 2,048, 4.70 s at 256, for 9 MB more than at 256).
EXPORTED_BATCH = 2048
CHECKPOINT_BATCH = 1024


def parser() -> ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument("reviews", nargs="*", help="texts to classify (else --file, else standard input)")
    parser.add_argument("--ckpt", type=str | None, default=None,
                        help="checkpoint file, or an exported .onnx model (default: the best checkpoint of the newest "
                             "run under --logdir)")
    parser.add_argument("--logdir", default="lightning_logs", help="where to look for the default checkpoint")
    parser.add_argument("--file", type=str | None, default=None,
                        help="read one text per line from this file (UTF-8), streamed")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per text: label, probabilities, text")
    parser.add_argument("--accelerator", default="cpu", choices=("cpu", "gpu", "auto"), help="where the model runs")
    parser.add_argument("--batch_size", type=int | None, default=None,
                        help=f"the most texts per forward pass (default: {EXPORTED_BATCH} for an exported model, whose "
                             f"runtime pays per step of each run, {CHECKPOINT_BATCH} for a checkpoint)")
    return parser


def run(invocation: Invocation) -> int:
    from tqdm.auto import tqdm

    from rnn_lightning.cli.process import hand_over_quickly, prepare_for_model
    from rnn_lightning.models.saved import find_best_checkpoint, is_exported
    from rnn_lightning.serving.inference import CheckpointError, iter_probabilities, load_model

    args = invocation.config
    file = Path(args.file) if args.file else None
    try:
        if args.batch_size is not None and args.batch_size < 1:
            raise ValueError(f"--batch_size must be at least 1, got {args.batch_size}")
        if file is not None and not file.is_file():
            raise FileNotFoundError(f"--file {file}: no such file")
        ckpt = Path(args.ckpt) if args.ckpt else find_best_checkpoint(args.logdir)
        prepare_for_model(ckpt)  # before torch starts its worker threads, so that they flush subnormals too
        hand_over_quickly()
        exported = is_exported(ckpt)
        model = load_model(ckpt) if exported else load_model(ckpt, map_location=_device(args.accelerator))
    except (CheckpointError, FileNotFoundError, ValueError) as error:
        return invocation.fail(error)
    batch_size = args.batch_size or (EXPORTED_BATCH if exported else CHECKPOINT_BATCH)
    names = model.class_names
    table = _VerdictTable(names)
    header = None if args.json else table.header
    seen = failed = 0
    # Texts in reading order, each until its verdict (or error) is printed: a batch or two ahead at most.
    waiting: deque[tuple[str, str | None, str | None]] = deque()

    def good_texts() -> Iterator[str]:
        for item in iter_reviews(args.reviews, file):
            waiting.append(item)
            if item[2] is None:
                yield item[1]

    def report_errors_in_front() -> None:
        nonlocal seen, failed
        while waiting and waiting[0][2] is not None:
            where, _, error = waiting.popleft()
            seen, failed = seen + 1, failed + 1
            print(f"{invocation.prog}: error: {where}: {error}", file=sys.stderr)

    # One stream through the prediction path, so that it encodes the next batch while the network runs this one;
    # memory stays flat however long the file. Progress on stderr, and only on a terminal.
    with tqdm(unit="review", file=sys.stderr, disable=None, leave=False) as progress:
        for batch in iter_probabilities(model, good_texts(), batch_size):
            for row in batch:
                report_errors_in_front()
                _, text, _ = waiting.popleft()
                seen += 1
                if header is not None:  # printed before the first verdict: nothing on stdout without one
                    print(header)
                    header = None
                print(table.json_line(text, row) if args.json else table.line(text, row))
            progress.update(len(batch))
        report_errors_in_front()
    if seen == 0:
        return invocation.fail("no reviews given (arguments, --file or standard input)")
    return 2 if failed else 0


def iter_reviews(reviews: list[str], file: Path | None) -> Iterator[tuple[str, str | None, str | None]]:
    """Yield ``(where, text, error)`` per review, reading a file line by line (never whole).

    A bad line is reported, never allowed to lose the others.
    """
    from rnn_lightning.data.text import has_words

    if reviews:
        lines: Iterable[tuple[str, bytes]] = ((f"argument {i}", text.encode("utf-8", "surrogateescape"))
                                              for i, text in enumerate(reviews, 1))
    else:
        lines = ((f"line {i}", line) for i, line in enumerate(_lines(file), 1))
    for where, line in lines:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            yield where, None, "not valid UTF-8"
            continue
        yield where, text, None if has_words(text) else "empty review: no words to classify"


def _lines(path: Path | None) -> Iterator[bytes]:
    """Lines of a file or of standard input, without their line ends, read as they come."""
    with path.open("rb") if path else contextlib.nullcontext(sys.stdin.buffer) as handle:
        for line in handle:
            yield line.rstrip(b"\r\n")


def _device(accelerator: str):  # noqa: ANN202 - a torch.device; torch is imported lazily
    import torch

    if accelerator == "gpu" and not torch.cuda.is_available():
        raise ValueError("--accelerator gpu: no CUDA device is visible")
    use_cuda = accelerator == "gpu" or (accelerator == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if use_cuda else "cpu")


class _VerdictTable:
    """One line per verdict: the label, every class's probability in a column of its own, the text's opening.

    Args:
        names: The class names, in the model's order.
    """

    #: How much of a text a table line shows, its whitespace collapsed.
    OPENING = 60

    def __init__(self, names: tuple[str, ...]) -> None:
        from rnn_lightning.serving.inference import most_likely

        self.names, self._most_likely = names, most_likely
        self._label_width = max(len("label"), *(len(name) for name in names)) + 1
        self._column_widths = [max(len(f"p({name})"), 5) + 1 for name in names]
        self.header = ("label".ljust(self._label_width) + "".join(
            f"{f'p({name})':>{width}}" for name, width in zip(names, self._column_widths, strict=True)) + "  review")

    def line(self, text: str, probabilities: list[float]) -> str:
        label = self.names[self._most_likely(probabilities)]
        columns = "".join(f"{p:>{width}.3f}" for p, width in zip(probabilities, self._column_widths, strict=True))
        return f"{label.ljust(self._label_width)}{columns}  {opening(text, self.OPENING)}"

    def json_line(self, text: str, probabilities: list[float]) -> str:
        rounded = {name: round(p, 6) for name, p in zip(self.names, probabilities, strict=True)}
        return json.dumps({"label": self.names[self._most_likely(probabilities)], "probabilities": rounded,
                           "text": text})


def opening(text: str, width: int) -> str:
    """The first ``width`` characters of the text with its whitespace collapsed, then ``...`` if it goes on.

    Only the text's start is collapsed: doing the whole review took half of printing's time.
    """
    taken = 2 * width + 2
    while True:
        start = " ".join(text[:taken].split())
        # Each character of a collapsed prefix is the collapsed text's, so width + 1 of them tell all.
        if len(start) > width or taken >= len(text):
            return start[:width] + ("..." if len(start) > width else "")
        taken *= 4
