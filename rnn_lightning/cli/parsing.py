"""Command lines built from the settings with jsonargparse: config files, links, one-line errors, old flag names.

Every settings group (:mod:`rnn_lightning.settings`) becomes ``--group.field`` flags and a ``group:`` section of a
config file; the flags README documented before (``--num-words``, ``--mask-padding``, ``--no-fast-path``...)
are rewritten to those names before parsing, so they keep working.
"""

from __future__ import annotations

import json
import sys
from argparse import Action
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jsonargparse
from jsonargparse import ActionConfigFile, ArgumentParser, Namespace

from rnn_lightning import environment
from rnn_lightning.settings import LINKS, SETTINGS_GROUPS

# Old flags whose names say something else than the setting they set (--data-source needs no entry: its first
# dash becomes the group's dot).
RENAMED = {"--val-data": "--data.val_source", "--test-data": "--data.test_source"}
_BOOLEAN_WORDS = ("true", "false", "null")


def new_parser(description: str, *, config_file: bool = True) -> ArgumentParser:
    """A subcommand's parser: errors are raised (and turned into one line by :func:`fail`), never printed whole."""
    # The settings' help texts are the docstrings under their fields.
    jsonargparse.set_parsing_settings(docstring_parse_attribute_docstrings=True)
    parser = ArgumentParser(description=description, exit_on_error=False)
    if config_file:
        parser.add_argument("--config", action=ActionConfigFile,
                            help="a YAML config file (e.g. a run's config.yaml); flags after it override it")
    return parser


def add_settings(parser: ArgumentParser, *groups: str) -> None:
    """Add settings groups (``data``, ``model``, ``optimizer``, ``trainer``) as flags, with the links between them.

    The data's source and offline mode default to ``$IMDB_SOURCE`` and ``$IMDB_OFFLINE`` (read here, in the
    entry point, and saved in the run's config like any other value).
    """
    for group in groups:
        parser.add_class_arguments(SETTINGS_GROUPS[group], group, fail_untyped=True)
    for source, target in LINKS:
        if source.split(".")[0] in groups and target.split(".")[0] in groups:
            parser.link_arguments(source, target)
    if "data" in groups:
        parser.set_defaults({"data.source": environment.imdb_source(), "data.offline": environment.offline()})


def modern_flags(argv: Sequence[str], parser: ArgumentParser, renamed: dict[str, str] | None = None) -> list[str]:
    """``argv`` with the flags of earlier releases rewritten to today's names.

    ``--num-words 30`` becomes ``--data.num_words 30``; a boolean given alone (``--mask-padding``) becomes
    ``true``, and ``--no-X`` ``false``; ``--labels a,b`` becomes a list. Flags that match nothing are left for
    the parser to refuse.
    """
    options = {option: action for action in parser._actions for option in action.option_strings
               if option.startswith("--")}
    renamed = {**RENAMED, **(renamed or {})}
    out: list[str] = []
    tokens = list(argv)
    while tokens:
        token = tokens.pop(0)
        flag, equals, value = token.partition("=")
        if token == "--" or not token.startswith("--") or flag in options:
            out.append(token)
            continue
        name, negated = _modern_name(flag, options, renamed)
        if name is None:
            out.append(token)
            continue
        action = options[name]
        if _is_boolean(action):
            if not equals:
                given = bool(tokens) and tokens[0].lower() in _BOOLEAN_WORDS
                value = tokens.pop(0) if given else "false" if negated else "true"
            out.append(f"{name}={value}")
        elif _is_list(action):
            value = value if equals else tokens.pop(0) if tokens else ""
            out.append(f"{name}={value if value.startswith('[') else json.dumps(value.split(','))}")
        else:
            out.append(f"{name}={value}" if equals else name)
    return out


def _modern_name(flag: str, options: dict[str, Action], renamed: dict[str, str]) -> tuple[str | None, bool]:
    if flag in renamed:
        return renamed[flag], False
    name = flag[2:]
    tries = [(name, False)] + ([(name[3:], True)] if name.startswith("no-") else [])
    for candidate, negated in tries:
        key = candidate.replace("-", "_")
        matches = [option for option in options if option in (f"--{key}", f"--{key.replace('_', '.', 1)}")
                   or option.endswith(f".{key}")]
        if len(matches) == 1 and (not negated or _is_boolean(options[matches[0]])):
            return matches[0], negated
    return None, False


def _is_boolean(action: Action) -> bool:
    return str(getattr(action, "_typehint", "")).replace("typing.", "") in ("<class 'bool'>", "bool | None",
                                                                             "Optional[bool]")


def _is_list(action: Action) -> bool:
    return "list[" in str(getattr(action, "_typehint", ""))


@dataclass
class Invocation:
    """One command as it was called: its name for messages, the subcommand, its parser and what that parsed."""

    prog: str
    name: str
    parser: ArgumentParser
    config: Namespace

    def settings(self) -> Namespace:
        """The parsed values with every settings group built as its dataclass (bounds checked)."""
        return self.parser.instantiate(self.config)

    def dump(self) -> str:
        """The resolved config as YAML: given back to ``--config``, it repeats the command."""
        return self.parser.dump(self.config)

    def fail(self, error: BaseException | str) -> int:
        return fail(self.prog, error)


def fail(prog: str, error: BaseException | str) -> int:
    """Print ``prog: error: reason`` as one line on stderr and return exit status 2."""
    reason = " ".join(str(error).split()) or type(error).__name__
    print(f"{prog}: error: {reason}", file=sys.stderr)
    return 2


def one_line_help(module: Any) -> str:
    """The first line of a command module's docstring."""
    return (module.__doc__ or "").strip().splitlines()[0]
