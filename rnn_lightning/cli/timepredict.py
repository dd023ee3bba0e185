"""Time ``predict --file`` for trained models: first answer, total, texts/s and peak memory, start-up included.

Each model (a checkpoint or an exported ``.onnx``) classifies the texts file ``--repeat`` times, each time in a
fresh process; the table shows the fastest. ``--write_imdb_test ARCHIVE`` first writes the 25,000 IMDB test
reviews of an archive to the texts file, one per line: the file issue 21's targets are measured on.

Examples:
  rnn-lightning timepredict --write_imdb_test ../shared/data/aclImdb_v1_labeled.tar.gz --texts test.txt --models m.ckpt
  rnn-lightning timepredict --texts test.txt --models m.ckpt m.onnx --repeat 5
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, new_parser


def parser() -> ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument("--models", type=str, nargs="+", required=True, help="checkpoints or exported .onnx files")
    parser.add_argument("--texts", type=str, required=True, help="the texts to classify, one per line")
    parser.add_argument("--write_imdb_test", type=str | None, default=None,
                        help="first write the test reviews of this IMDB archive to --texts")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per model; the fastest is shown")
    return parser


def run(invocation: Invocation) -> int:
    from rnn_lightning.analysis.predict_timing import cpu_name, time_predict, write_imdb_test

    args = invocation.config
    texts = Path(args.texts)
    if args.repeat < 1:
        return invocation.fail("--repeat must be at least 1")
    try:
        if args.write_imdb_test:
            count = write_imdb_test(Path(args.write_imdb_test), texts)
            print(f"wrote {count} reviews to {texts}", file=sys.stderr)
        if not texts.is_file():
            return invocation.fail(f"{texts} is not a file")
        print(f"CPU: {cpu_name()}, {os.cpu_count()} cores\n")
        print("| model | first answer s | total s | texts | texts/s | peak MB |\n|---|---:|---:|---:|---:|---:|")
        for model in args.models:
            runs = [time_predict(model, texts) for _ in range(args.repeat)]
            best = min(runs, key=lambda timing: timing.total_s)
            print(f"| {model} | {min(timing.first_s for timing in runs):.2f} | {best.total_s:.2f} | "
                  f"{best.answers} | {best.per_second:,.0f} | {max(timing.peak_mb for timing in runs):.0f} |",
                  flush=True)
    except (OSError, RuntimeError) as error:
        return invocation.fail(error)
    return 0
