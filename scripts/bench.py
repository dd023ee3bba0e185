"""Benchmark training on the real data: ms per step, samples/s, epoch time, peak memory, Lightning overhead.

Each setting runs in its own process (denormal flushing is process-wide, and peak memory is per process).
A setting is written as comma-separated key=value pairs; keys and defaults:
  cell=rnn, fast=1, compiled=1, flush=1, mask=0, batch=128, precision=32-true, accelerator=cpu
(compiled=0 runs the fast path's Python loop instead of the compiled recurrence.)

Examples:
  python scripts/bench.py --data-source ../shared/data/aclImdb_v1_labeled.tar.gz
  python scripts/bench.py --config cell=rnn --config cell=rnn,mask=1 --loops epoch
  python scripts/bench.py --accelerator gpu --config precision=bf16-mixed --loops bare lightning epoch
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from rnn_lightning.analysis.benchmark import BenchConfig, as_dict, bare_loop, lightning_epoch, lightning_loop
from rnn_lightning.cli.arguments import Parser, add_data_arguments, datamodule_from_args
from rnn_lightning.models.compiled import NO_COMPILE_ENV, recurrence_path
from rnn_lightning.models.denormals import flush_denormals

DEFAULT_CONFIGS = ["fast=0", "fast=1,compiled=0", "fast=1", "mask=1"]
LOOPS = {"bare": bare_loop, "lightning": lightning_loop}
_FLAG = "1".__eq__
_KEYS = {"cell": ("cell", str), "fast": ("fast_path", _FLAG), "compiled": ("compiled", _FLAG),
         "flush": ("flush_denormals", _FLAG),
         "mask": ("mask_padding", _FLAG), "batch": ("batch_size", int), "precision": ("precision", str),
         "accelerator": ("accelerator", str)}


def parse_config(text: str, accelerator: str) -> BenchConfig:
    """Turn ``"cell=rnn,mask=1"`` into a :class:`BenchConfig`."""
    values: dict[str, object] = {"accelerator": accelerator}
    for pair in filter(None, text.split(",")):
        key, _, value = pair.partition("=")
        if key not in _KEYS:
            raise argparse.ArgumentTypeError(f"unknown setting {key!r} in {text!r}; known: {', '.join(_KEYS)}")
        field, convert = _KEYS[key]
        values[field] = convert(value)
    return BenchConfig(**values)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="bench.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", default=None,
                        help=f"a setting to measure, repeatable (default: {' | '.join(DEFAULT_CONFIGS)})")
    parser.add_argument("--loops", nargs="+", default=["bare", "lightning"], choices=[*LOOPS, "epoch"],
                        help="bare PyTorch steps, Lightning steps over the same batches, and/or one full epoch")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per loop")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--repeat", type=int, default=3,
                        help="run the step loops this many times, interleaved, and keep each loop's fastest run "
                             "(shared machines are noisy)")
    parser.add_argument("--accelerator", default="cpu", help="cpu or gpu, for every setting that does not say")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # one setting, in a child process
    add_data_arguments(parser)
    return parser


def run_worker(args: argparse.Namespace) -> None:
    config = parse_config(args.worker, args.accelerator)
    if not config.compiled:
        os.environ[NO_COMPILE_ENV] = "1"  # read once, on the recurrence's first use in this process
    if config.flush_denormals:
        flush_denormals()  # before PyTorch starts its worker threads, as scripts/fit.py does
    datamodule = datamodule_from_args(args, batch_size=config.batch_size, group_by_length=config.mask_padding)
    datamodule.setup("fit")
    fastest = {}
    for _ in range(args.repeat):
        for loop in (loop for loop in args.loops if loop in LOOPS):
            result = LOOPS[loop](config, datamodule, args.steps, args.warmup)
            if loop not in fastest or result.ms_per_step < fastest[loop].ms_per_step:
                fastest[loop] = result
    if "epoch" in args.loops:
        fastest["epoch"] = lightning_epoch(config, datamodule)
    print(f"recurrence: {recurrence_path()}", file=sys.stderr)
    for loop in args.loops:
        print("RESULT " + json.dumps(as_dict(fastest[loop])), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker is not None:
        run_worker(args)
        return 0
    datamodule_from_args(args).prepare_data()  # once, before the workers read the cache
    results = []
    for text in args.config or DEFAULT_CONFIGS:
        parse_config(text, args.accelerator)  # fail early on a typo
        completed = subprocess.run([sys.executable, __file__, *_worker_args(args), "--worker", text],
                                   capture_output=True, text=True)
        if completed.returncode:
            print(f"bench.py: setting {text!r} failed:\n{completed.stderr[-3000:]}", file=sys.stderr)
            return 1
        results += [json.loads(line[7:]) for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
        print(f"measured {text}", file=sys.stderr)
    print(format_results(results))
    return 0


def _worker_args(args: argparse.Namespace) -> list[str]:
    data = ["--data-dir", args.data_dir, "--num-words", str(args.num_words), "--maxlen", str(args.maxlen)]
    data += ["--data-source", args.data_source] if args.data_source else []
    return [*data, "--loops", *args.loops, "--steps", str(args.steps), "--warmup", str(args.warmup),
            "--repeat", str(args.repeat), "--accelerator", args.accelerator]


def format_results(results: list[dict[str, object]]) -> str:
    """A Markdown table of every measurement, then the Lightning loop's overhead over the bare loop."""
    lines = ["| setting | loop | ms/step | samples/s | epoch s | peak MB |", "|---|---|---:|---:|---:|---:|"]
    for r in results:
        epoch = f"{r['epoch_s']:.2f}" if r["epoch_s"] is not None else "-"
        lines.append(f"| {r['config']} | {r['loop']} | {r['ms_per_step']:.1f} | {r['samples_per_s']:.0f} | {epoch} "
                     f"| {r['peak_mb']:.0f} |")
    by_key = {(r["config"], r["loop"]): r["ms_per_step"] for r in results}
    for config in dict.fromkeys(r["config"] for r in results):
        bare, lightning = by_key.get((config, "bare PyTorch")), by_key.get((config, "Lightning"))
        if bare and lightning:
            lines.append(f"\nLightning loop overhead for {config}: {100 * (lightning / bare - 1):+.1f}% "
                         f"({lightning:.1f} vs {bare:.1f} ms/step)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
