"""``rnn-lightning``: one command, a subcommand per job, every flag generated from the settings.

``rnn-lightning fit --help`` lists a subcommand's flags; ``--config run.yaml`` reads them from a file and
``--print_config`` prints the resolved config. ``scripts/*.py`` call :func:`main` with their subcommand.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, fail, modern_flags, one_line_help
from rnn_lightning.cli.process import quiet_known_warnings
from rnn_lightning.fileio import WriteError
from rnn_lightning.recipes import expand_recipes

COMMANDS = {name: f"rnn_lightning.cli.{module}" for name, module in (
    ("fit", "fit"), ("test", "test"), ("predict", "predict"), ("serve", "serve"), ("inspect", "inspect"),
    ("plot", "plot"), ("bench", "bench"), ("probe", "probe"), ("distance", "distance"), ("depth", "depth"),
    ("loadtest", "loadtest"), ("screenshot", "screenshot"), ("flags", "flags"), ("export", "export"),
    ("timepredict", "timepredict"), ("ablation", "ablation"), ("folds", "folds"))}

# The optional extra that brings each package a subcommand may need (pyproject.toml's optional-dependencies).
EXTRA_OF = {**dict.fromkeys(("torch", "lightning", "torchmetrics", "tensorboard", "matplotlib", "filelock",
                             "torchdata", "ninja"), "train"),
            "onnxruntime": "runtime", "onnx": "export", "litserve": "serve", "prometheus_client": "serve",
            "fastapi": "serve", "uvicorn": "serve", "pyarrow": "parquet", "sklearn": "baseline", "fasttext": "baseline"}


def command_module(name: str) -> ModuleType:
    """The module of one subcommand: its ``parser()``, ``run(invocation)`` and, optionally, ``RENAMED`` flags."""
    return importlib.import_module(COMMANDS[name])


def build_parser(prog: str = "rnn-lightning", only: Sequence[str] | None = None) -> ArgumentParser:
    """The whole command line: a subcommand per job (or only those named in ``only``)."""
    root = ArgumentParser(prog=prog, description=__doc__.strip().splitlines()[0], exit_on_error=False)
    subcommands = root.add_subcommands(required=True, dest="command")
    for name in COMMANDS if only is None else only:
        module = command_module(name)
        subcommands.add_subcommand(name, module.parser(), help=one_line_help(module))
    return root


def parse(argv: Sequence[str], prog: str | None = None) -> Invocation:
    """Parse a command line, the subcommand first, flags of earlier releases included, settings built.

    Raises:
        Exception: Whatever the parser or a setting's bounds refuse (the caller turns it into one line).
        SystemExit: For ``--help`` and ``--print_config``, after printing.
    """
    argv = list(argv)
    name = argv[0] if argv and argv[0] in COMMANDS else None
    # A named subcommand needs its own parser alone: building all of them would import every subcommand's module
    # and cost a short command (predict) a fifth of a second of its start-up.
    root = build_parser(only=None if name is None else [name])
    if name is not None:
        flags = modern_flags(argv[1:], _subparser(root, name), getattr(command_module(name), "RENAMED", None))
        argv = [name, *(expand_recipes(flags) if getattr(command_module(name), "RECIPES", False) else flags)]
    config = root.parse_args(argv)
    name = config.command
    invocation = Invocation(prog or f"rnn-lightning {name}", name, _subparser(root, name), config[name])
    invocation.settings()  # the settings' bounds, checked before anything heavy is imported or read
    return invocation


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run one subcommand; return its exit status (2, after one line on stderr, for a bad command line).

    Args:
        argv: The arguments, the subcommand first (default: ``sys.argv[1:]``).
        prog: The name errors start with (default: ``rnn-lightning <subcommand>``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        invocation = parse(argv, prog)
    except SystemExit:
        raise
    except Exception as error:  # noqa: BLE001 - any failure to parse is the command line's fault: one line
        name = argv[0] if argv and argv[0] in COMMANDS else None
        return fail(prog or f"rnn-lightning{f' {name}' if name else ''}", error)
    quiet_known_warnings()
    try:
        return command_module(invocation.name).run(invocation)
    except ModuleNotFoundError as error:
        extra = EXTRA_OF.get((error.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"{invocation.prog}: error: this needs {error.name}, which this installation lacks: pip install "
              f"'rnn-lightning[{extra}]'", file=sys.stderr)
        return 1
    except WriteError as error:  # a full disk, say: one line naming what was being written, status 1 (a fault)
        print(f"{invocation.prog}: error: {error.strerror}", file=sys.stderr)
        return 1


def _subparser(root: ArgumentParser, name: str) -> ArgumentParser:
    return root._subcommands_action._name_parser_map[name]


if __name__ == "__main__":
    sys.exit(main())
