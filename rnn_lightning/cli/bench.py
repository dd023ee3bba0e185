"""Benchmark training: ms per step, samples/s, epoch time, peak memory, Lightning's overhead; one process a setting.

Each setting runs in its own process (denormal flushing and the compiled recurrences are process-wide
choices, and peak memory is per process). A setting is written as comma-separated key=value pairs; keys and
defaults: cell=rnn, fast=1, compiled=1, isa=native, flush=1, mask=0, batch=128, precision=32-true, accelerator=cpu
(compiled=0 runs the fast path's Python loop instead of the compiled recurrence; isa=x86-64-v3 builds the
compiled recurrences for AVX2 instead of this CPU, to measure that shape of the kernels here).

Examples:
  rnn-lightning bench --data.source ../shared/data/aclImdb_v1_labeled.tar.gz
  rnn-lightning bench --setting cell=rnn --setting cell=rnn,mask=1 --loops epoch
  rnn-lightning bench --accelerator gpu --setting precision=bf16-mixed --loops bare lightning epoch
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, add_settings, new_parser

if TYPE_CHECKING:
    from rnn_lightning.analysis.benchmark import BenchConfig

DEFAULT_SETTINGS = ["fast=0", "fast=1,compiled=0", "fast=1", "mask=1"]
LOOPS = ("bare", "lightning", "epoch")
RENAMED = {"--config": "--setting"}  # bench.py's --config named a setting before config files existed
_FLAG = "1".__eq__
_KEYS = {"cell": ("cell", str), "fast": ("fast_path", _FLAG), "compiled": ("compiled", _FLAG), "isa": ("target", str),
         "flush": ("flush_denormals", _FLAG), "mask": ("mask_padding", _FLAG), "batch": ("batch_size", int),
         "precision": ("precision", str), "accelerator": ("accelerator", str)}


def parser() -> ArgumentParser:
    parser = new_parser(__doc__, config_file=False)
    parser.add_argument("--setting", action="append", default=None,
                        help=f"a setting to measure, repeatable (default: {' | '.join(DEFAULT_SETTINGS)})")
    parser.add_argument("--loops", nargs="+", default=["bare", "lightning"], choices=LOOPS,
                        help="bare PyTorch steps, Lightning steps over the same batches, and/or one full epoch")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per loop")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--repeat", type=int, default=3,
                        help="run the step loops this many times, interleaved, and keep each loop's fastest run "
                             "(shared machines are noisy)")
    parser.add_argument("--accelerator", default="cpu", help="cpu or gpu, for every setting that does not say")
    parser.add_argument("--kernels", nargs="+", default=None, metavar="TARGET",
                        help="instead: time the compiled recurrences alone (one layer, 500 steps, batch 128) built "
                             "for each instruction set named (native: this CPU's; x86-64-v3: AVX2 and FMA), "
                             "against this machine's matrix-product peak")
    parser.add_argument("--worker", type=str | None, default=None, help="(internal) measure one setting here")
    add_settings(parser, "data")
    return parser


def parse_setting(text: str, accelerator: str) -> BenchConfig:
    """Turn ``"cell=rnn,mask=1"`` into a :class:`~rnn_lightning.analysis.benchmark.BenchConfig`.

    Raises:
        ValueError: For an unknown key.
    """
    from rnn_lightning.analysis.benchmark import BenchConfig

    values: dict[str, object] = {"accelerator": accelerator}
    for pair in filter(None, text.split(",")):
        key, _, value = pair.partition("=")
        if key not in _KEYS:
            raise ValueError(f"unknown setting {key!r} in {text!r}; known: {', '.join(_KEYS)}")
        field, convert = _KEYS[key]
        values[field] = convert(value)
    return BenchConfig(**values)


def run(invocation: Invocation) -> int:
    args = invocation.settings()
    if args.worker is not None:
        return _measure_here(args)
    if args.kernels:
        return _time_kernels(invocation, args.kernels)
    from rnn_lightning.data.datamodule import TextDataModule

    try:
        for text in args.setting or DEFAULT_SETTINGS:
            parse_setting(text, args.accelerator)  # fail early on a typo
        TextDataModule(args.data).prepare_data()  # once, before the workers read the cache
    except (ValueError, FileNotFoundError) as error:
        return invocation.fail(error)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        # The workers get the resolved data settings as a config file: every one of them reaches the workers.
        config = Path(folder) / "data.yaml"
        config.write_text(yaml.safe_dump(yaml.safe_load(invocation.dump())["data"]), encoding="utf-8")
        for text in args.setting or DEFAULT_SETTINGS:
            completed = subprocess.run([sys.executable, "-m", "rnn_lightning.cli.main", "bench", "--data", str(config),
                                        *_loop_flags(args), "--worker", text], capture_output=True, text=True)
            if completed.returncode:
                print(f"{invocation.prog}: setting {text!r} failed:\n{completed.stderr[-3000:]}", file=sys.stderr)
                return 1
            results += [json.loads(line[7:]) for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
            print(f"measured {text}", file=sys.stderr)
    print(format_results(results))
    return 0


def _time_kernels(invocation: Invocation, targets: list[str]) -> int:
    from rnn_lightning.cli.process import prepare_torch

    prepare_torch()
    from rnn_lightning.analysis.kernels import GATES, format_kernel_timings, matrix_product_peak, time_recurrence

    try:
        timings = [time_recurrence(target, cell) for target in targets for cell in GATES]
    except Exception as error:  # noqa: BLE001 - a build for a target this CPU or compiler lacks: say which
        lines = str(error).splitlines() or [type(error).__name__]
        reason = next((line for line in lines if "error:" in line), lines[0]).strip()  # the compiler's own words
        return invocation.fail(f"cannot build the recurrences for {targets}: {reason[:300]}")
    print(format_kernel_timings(timings, matrix_product_peak()))
    return 0


def _loop_flags(args: object) -> list[str]:
    return ["--loops", *args.loops, "--steps", str(args.steps), "--warmup", str(args.warmup), "--repeat",
            str(args.repeat), "--accelerator", args.accelerator]


def _measure_here(args: object) -> int:
    from rnn_lightning.cli.process import prepare_torch

    config = parse_setting(args.worker, args.accelerator)
    # Process-wide choices, made before torch starts its threads: as fit makes them, or as the setting says.
    prepare_torch(compiled=config.compiled, target=config.target)
    if not config.flush_denormals:
        import torch

        torch.set_flush_denormal(False)
    from rnn_lightning.analysis.benchmark import as_dict, bare_loop, lightning_epoch, lightning_loop
    from rnn_lightning.data.datamodule import TextDataModule
    from rnn_lightning.models.compiled import recurrence_path

    loops = {"bare": bare_loop, "lightning": lightning_loop}
    datamodule = TextDataModule(config.data(args.data))
    datamodule.prepare_data()
    datamodule.setup("fit")
    fastest = {}
    for _ in range(args.repeat):
        for loop in (loop for loop in args.loops if loop in loops):
            result = loops[loop](config, datamodule, args.steps, args.warmup)
            if loop not in fastest or result.ms_per_step < fastest[loop].ms_per_step:
                fastest[loop] = result
    if "epoch" in args.loops:
        fastest["epoch"] = lightning_epoch(config, datamodule)
    print(f"recurrence: {recurrence_path()}", file=sys.stderr)
    for loop in args.loops:
        print("RESULT " + json.dumps(as_dict(fastest[loop])), flush=True)
    return 0


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
