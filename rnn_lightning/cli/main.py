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

COMMANDS = {name: f"rnn_lightning.cli.{module}" for name, module in (
    ("fit", "fit"), ("test", "test"), ("predict", "predict"), ("serve", "serve"), ("inspect", "inspect"),
    ("plot", "plot"), ("bench", "bench"), ("probe", "probe"), ("distance", "distance"), ("depth", "depth"),
    ("flags", "flags"))}


def command_module(name: str) -> ModuleType:
    """The module of one subcommand: its ``parser()``, ``run(invocation)`` and, optionally, ``RENAMED`` flags."""
    return importlib.import_module(COMMANDS[name])


def build_parser(prog: str = "rnn-lightning") -> ArgumentParser:
    """The whole command line: a subcommand per job."""
    root = ArgumentParser(prog=prog, description=__doc__.strip().splitlines()[0], exit_on_error=False)
    subcommands = root.add_subcommands(required=True, dest="command")
    for name in COMMANDS:
        module = command_module(name)
        subcommands.add_subcommand(name, module.parser(), help=one_line_help(module))
    return root


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run one subcommand; return its exit status (2, after one line on stderr, for a bad command line).

    Args:
        argv: The arguments, the subcommand first (default: ``sys.argv[1:]``).
        prog: The name errors start with (default: ``rnn-lightning <subcommand>``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    root = build_parser()
    name = argv[0] if argv and argv[0] in COMMANDS else None
    prog = prog or f"rnn-lightning{f' {name}' if name else ''}"
    if name is not None:
        subparser = root._subcommands_action._name_parser_map[name]
        argv = [name, *modern_flags(argv[1:], subparser, getattr(command_module(name), "RENAMED", None))]
    try:
        config = root.parse_args(argv)
    except SystemExit:
        raise
    except Exception as error:  # noqa: BLE001 - any failure to parse is the command line's fault: one line
        return fail(prog, error)
    name = config.command
    quiet_known_warnings()
    invocation = Invocation(prog, root._subcommands_action._name_parser_map[name], config[name])
    try:
        invocation.settings()  # the settings' bounds, checked before anything heavy is imported or read
    except (ValueError, TypeError) as error:
        return fail(prog, error)
    return command_module(name).run(invocation)


if __name__ == "__main__":
    sys.exit(main())
