"""Time ``rnn-lightning predict --file`` as a user runs it: start-up included, one process per model.

For each model (a checkpoint or an exported ``.onnx``), the texts file is classified ``--repeat`` times in a fresh
process; the table gives the fastest run's time to the first answer, its total, reviews per second over the total,
and the process's peak memory. ``--write-imdb-test ARCHIVE`` first writes the 25,000 IMDB test reviews one per
line (the file the targets of issue 21 are measured on)::

    python scripts/bench_predict.py --write-imdb-test ../shared/data/aclImdb_v1_labeled.tar.gz --texts test.txt \
        lightning_logs/version_0/checkpoints/last.ckpt model.onnx
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path


def write_imdb_test(archive: Path, target: Path) -> int:
    """The test reviews of an IMDB archive, one per line (line breaks inside a review become spaces)."""
    count = 0
    with tarfile.open(archive) as tar, target.open("w", encoding="utf-8") as out:
        for member in tar:
            parts = Path(member.name).parts
            if member.isreg() and len(parts) == 4 and parts[1] == "test" and parts[2] in ("pos", "neg"):
                text = tar.extractfile(member).read().decode("utf-8")
                out.write(" ".join(text.split()) + "\n")
                count += 1
    return count


def time_predict(model: str, texts: Path, command: list[str]) -> dict[str, float]:
    """One fresh ``predict --file`` process: seconds to its first line of output, in all, and its peak MB."""
    start = time.perf_counter()
    process = subprocess.Popen([*command, "predict", "--ckpt", model, "--file", str(texts), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = None
    lines = 0
    for _ in process.stdout:
        if first is None:
            first = time.perf_counter() - start
        lines += 1
    stderr = process.stderr.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    total = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"predict failed on {model}:\n{stderr[-2000:]}")
    return {"first": first or total, "total": total, "lines": lines, "peak_mb": usage.ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="checkpoints or exported .onnx files")
    parser.add_argument("--texts", type=Path, required=True, help="one text per line")
    parser.add_argument("--write-imdb-test", type=Path, metavar="ARCHIVE",
                        help="first write the IMDB test reviews of ARCHIVE to --texts")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per model; the fastest is shown")
    args = parser.parse_args(argv)
    if args.write_imdb_test:
        print(f"wrote {write_imdb_test(args.write_imdb_test, args.texts)} reviews to {args.texts}", file=sys.stderr)
    command = [sys.executable, "-m", "rnn_lightning.cli.main"]
    print(f"CPU: {_cpu_name()}, {os.cpu_count()} cores\n")
    print("| model | first answer s | total s | texts | texts/s | peak MB |\n|---|---:|---:|---:|---:|---:|")
    for model in args.models:
        runs = [time_predict(model, args.texts, command) for _ in range(args.repeat)]
        best = min(runs, key=lambda run: run["total"])
        print(f"| {model} | {min(run['first'] for run in runs):.2f} | {best['total']:.2f} | {best['lines']} | "
              f"{best['lines'] / best['total']:,.0f} | {max(run['peak_mb'] for run in runs):.0f} |", flush=True)
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
