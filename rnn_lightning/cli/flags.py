"""Print the reference of every setting (type, default, bounds, help) as Markdown: docs/flags.md is its output."""

from __future__ import annotations

import dataclasses
import typing

import docstring_parser
from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, new_parser
from rnn_lightning.settings import LINKS, SETTINGS_GROUPS

_INTRO = """# Every setting

Generated from `rnn_lightning/settings.py` by `rnn-lightning flags` (a test keeps the two equal). Each setting is
a flag of the subcommands that use it (`--data.maxlen 64`), a key of a config file (`data:` then `maxlen: 64`,
read with `--config run.yaml`), and, for the model and optimizer, a hyperparameter saved in every checkpoint.
`rnn-lightning fit --print_config` prints the resolved config; each run saves it as `config.yaml` beside its
checkpoints, and `rnn-lightning fit --config that/config.yaml` repeats the run.

The flags of earlier releases still work: `--num-words` is `--data.num_words`, `--data-source` is
`--data.source`, `--mask-padding` is `--model.mask_padding true`, `--no-fast-path` is `--model.fast_path false`.
"""


def parser() -> ArgumentParser:
    return new_parser(__doc__, config_file=False)


def run(invocation: Invocation) -> int:
    print(reference(), end="")
    return 0


def reference() -> str:
    """The Markdown reference: a table per settings group."""
    linked = dict((target, source) for source, target in LINKS)
    parts = [_INTRO]
    for group, settings in SETTINGS_GROUPS.items():
        helps = {param.arg_name: " ".join((param.description or "").split())
                 for param in docstring_parser.parse_from_object(settings).params}
        hints = typing.get_type_hints(settings)
        summary = " ".join(settings.__doc__.split())
        parts.append(f"\n## {group}: {summary}\n\n| flag | type | default | allowed | what |\n|---|---|---|---|---|\n")
        for field in dataclasses.fields(settings):
            bound = field.metadata.get("bound")
            what = helps.get(field.name, "")
            if f"{group}.{field.name}" in linked:
                what += f" Follows `--{linked[f'{group}.{field.name}']}` on the command line."
            parts.append(f"| `--{group}.{field.name}` | {_type_name(hints[field.name])} | `{field.default}` | "
                         f"{bound.describe() if bound else ''} | {what} |\n")
    return "".join(parts)


def _type_name(hint: object) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "").replace("|", "or")
