"""The compiled recurrences (tanh RNN, LSTM, GRU): built from ``csrc/recurrence.cpp`` on first use, cached.

The build goes through ``torch.utils.cpp_extension`` (ninja and the system C++ compiler), once per source,
compiler flags, CPU and torch version, into torch's extensions folder (``$TORCH_EXTENSIONS_DIR``, by default
``~/.cache/torch_extensions``); later processes import the built library directly, in about a millisecond. Where
it cannot be built (no compiler, an unsupported platform, or switched off by :func:`allow_compiled`),
:func:`recurrence_kernel` returns None after a one-line warning, and :mod:`rnn_lightning.models.recurrences` runs
the tanh RNN's Python loop (and the model torch's own LSTM/GRU) instead.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import platform
import shutil
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import torch
from filelock import FileLock

from rnn_lightning.environment import torch_extensions_dir

SOURCE = Path(__file__).with_name("csrc") / "recurrence.cpp"
# -fopenmp: at::parallel_for splits the batch across threads only when built with OpenMP, as torch is.
FLAGS = ("-O3", "-fno-math-errno", "-fno-trapping-math", "-fopenmp")
# The library is built on the machine that runs it, for that machine's CPU (-march=native), and named after it:
# the kernels' shapes follow the instruction set found (recurrence.cpp, "kVectorRegisters").
NATIVE = "native"
# What torch's builder names the library it links.
LIBRARY_SUFFIX = ".pyd" if sys.platform == "win32" else ".so"


class CompiledPathWarning(UserWarning):
    """The compiled recurrences could not be had; slower equivalents run instead (same results)."""


def _cpu_identity() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    wanted = [line for line in lines if line.startswith(("model name", "flags"))][:2]
    return "\n".join(wanted) or platform.machine()


def extension_name(target: str = NATIVE) -> str:
    """The library's name: a digest of everything that shapes it, so a change of any builds afresh.

    The torch installation it compiles against is part of it: torch's build file names its headers by path, so
    two venvs sharing one folder would otherwise rebuild over each other's library at every switch.
    """
    key = "\n".join([SOURCE.read_text(encoding="utf-8"), " ".join(FLAGS), f"-march={target}", _cpu_identity(),
                     torch.__version__, str(Path(torch.__file__).resolve().parent)])
    return f"rnn_lightning_recurrence_{hashlib.sha256(key.encode()).hexdigest()[:12]}"


@contextlib.contextmanager
def _ninja_on_path() -> Iterator[None]:
    """Torch runs ``ninja`` from PATH; the ``ninja`` wheel's copy is used when the system has none."""
    if shutil.which("ninja") is not None:
        yield
        return
    import ninja  # a dependency of this project

    previous = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([ninja.BIN_DIR, previous])
    try:
        yield
    finally:
        os.environ["PATH"] = previous


_allowed = [True]
_target = [NATIVE]


def allow_compiled(allowed: bool, target: str = NATIVE) -> None:
    """Whether this process may build and use the compiled recurrences, and for which instruction set.

    A choice for the entry points to make: ``rnn-lightning`` switches them off when ``RNN_LIGHTNING_NO_COMPILE``
    is set, and the benchmark per setting (which may also build them for another instruction set than this
    CPU's, e.g. ``x86-64-v3``, to measure the AVX2 kernels on an AVX-512 machine).
    """
    _allowed[0], _target[0] = allowed, target
    recurrence_kernel.cache_clear()
    _why_unavailable.clear()


@functools.cache
def recurrence_kernel() -> ModuleType | None:
    """The compiled module for this CPU, built on first call; None (after a one-line warning) where it cannot be had.

    It holds ``forward_``/``backward`` (tanh RNN), ``lstm_forward_``/``lstm_backward`` and
    ``gru_forward_``/``gru_backward``.
    """
    if not _allowed[0]:
        _unavailable("switched off")
        return None
    try:
        return build_recurrences(_target[0])
    except Exception as error:  # noqa: BLE001 - any build failure means the same thing: use the Python loop
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        _unavailable(f"could not build it ({reason})")
        return None


@functools.cache
def build_recurrences(target: str) -> ModuleType:
    """Build (or load the built) compiled module for one instruction set, e.g. ``x86-64-v3`` (AVX2 and FMA).

    :func:`recurrence_kernel` asks for this machine's own (``native``); the tests build the others this CPU can
    run, so that every kernel shape is checked against torch wherever they run.

    Raises:
        Exception: Whatever the compiler or torch's build raises.
    """
    name = extension_name(target)
    build_directory = torch_extensions_dir() / name
    build_directory.mkdir(parents=True, exist_ok=True)
    # torch marks a build in progress with a plain "lock" file and waits for it to vanish: a build that
    # was killed leaves it behind, and every later process would wait forever. Builds are serialised here
    # by an OS lock instead (released when its holder dies), under which any such file is stale.
    with FileLock(str(build_directory / ".rnn_lightning.lock")), _ninja_on_path():
        (build_directory / "lock").unlink(missing_ok=True)
        # Compiled from a copy inside the build folder: the build file then names the same source whichever
        # checkout asks, and a second checkout loads the library the first one built instead of rebuilding it.
        source = build_directory / SOURCE.name
        if not source.is_file() or source.read_bytes() != SOURCE.read_bytes():
            shutil.copyfile(SOURCE, source)
        built = build_directory / f"{name}{LIBRARY_SUFFIX}"
        if built.is_file():
            # The name digests the source, flags, CPU and torch: a library built under it is this very build.
            # Imported directly it loads in a millisecond, where importing torch's builder and its asking ninja
            # whether anything changed cost every process 0.2 s of its start-up. A library that does not load (a
            # build killed while linking) goes through the builder below, which makes it again.
            with contextlib.suppress(ImportError, OSError):
                return _import_library(name, built)
        from torch.utils.cpp_extension import load

        if not list(build_directory.glob(f"{name}*.so")):
            print(f"building the compiled recurrences in {build_directory} (once per machine and torch "
                  "installation; about a minute)", file=sys.stderr, flush=True)
        return load(name=name, sources=[str(source)], extra_cflags=[*FLAGS, f"-march={target}"],
                    extra_ldflags=["-fopenmp"], build_directory=str(build_directory), verbose=False)


def _import_library(name: str, path: Path) -> ModuleType:
    """Import the built extension module ``name`` from its file, as torch's ``load()`` does once it is built."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_why_unavailable: list[str] = []


def _unavailable(reason: str) -> None:
    _why_unavailable[:] = [reason]
    warnings.warn(f"compiled RNN recurrence unavailable: {reason}; running the tanh RNN's Python loop and torch's "
                  "own LSTM/GRU instead (same results, slower)", CompiledPathWarning, stacklevel=3)


def recurrence_path() -> str:
    """Which tanh RNN recurrence runs on CPU, in words (for the fit summary and the benchmark)."""
    if recurrence_kernel() is not None:
        built_for = "" if _target[0] == NATIVE else f", built for {_target[0]}"
        return f"compiled C++ (rnn_lightning/models/csrc/recurrence.cpp{built_for})"
    return f"Python loop ({_why_unavailable[0] if _why_unavailable else 'compiled path unavailable'})"
