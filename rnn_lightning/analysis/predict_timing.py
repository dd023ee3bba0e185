"""Time ``rnn-lightning predict --file`` as a user meets it: a fresh process, start-up included.

The figures of issue 21 are measured this way: the time to the first line of output (start-up: imports, loading
the model), the total, and the process's peak resident memory, which shows whether memory stays flat while a
large file streams through.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter


@dataclass(frozen=True)
class PredictTiming:
    """One ``predict --file`` process.

    Attributes:
        first_s: Seconds from starting the process to its first answer.
        total_s: Seconds until the process ended.
        answers: Lines of output (one per text).
        peak_mb: The process's peak resident memory.
    """

    first_s: float
    total_s: float
    answers: int
    peak_mb: float

    @property
    def per_second(self) -> float:
        return self.answers / self.total_s


def write_imdb_test(archive: Path, target: Path) -> int:
    """Write the test reviews of an IMDB archive to ``target``, one per line; return how many.

    Line breaks and runs of spaces inside a review become one space, so that a review stays one line.
    """
    count = 0
    with tarfile.open(archive) as tar, target.open("w", encoding="utf-8") as out:
        for member in tar:
            parts = Path(member.name).parts
            if member.isreg() and len(parts) == 4 and parts[1] == "test" and parts[2] in ("pos", "neg"):
                out.write(" ".join(tar.extractfile(member).read().decode("utf-8").split()) + "\n")
                count += 1
    return count


def time_predict(model: str | Path, texts: Path) -> PredictTiming:
    """Run ``rnn-lightning predict --ckpt model --file texts --json`` in a fresh process and time it.

    Raises:
        RuntimeError: If the process fails; the message ends with its last lines of stderr.
    """
    command = [sys.executable, "-m", "rnn_lightning.cli.main", "predict", "--ckpt", str(model), "--file", str(texts),
               "--json"]
    start = perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first, answers = None, 0
    for _ in process.stdout:
        first = first or perf_counter() - start
        answers += 1
    stderr = process.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)  # wait4, not wait: its rusage carries the child's peak memory
    total = perf_counter() - start
    if status != 0:
        raise RuntimeError(f"predict failed on {model}:\n{stderr[-2000:]}")
    return PredictTiming(first or total, total, answers, usage.ru_maxrss / 1024)


def cpu_name() -> str:
    """The CPU as ``lscpu`` names it, with its family and model: "AMD EPYC" alone covers machines 3x apart."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        return "unknown CPU"
    name = fields.get("model name", "unknown CPU")
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name
