"""Tabulate and draw the test accuracy of each part of models trained apart (Findings III's ablation)."""

from __future__ import annotations

from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, new_parser


def parser() -> ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument("runs", nargs="+", metavar="DATA=RUN_DIR",
                        help="a collection's name and one of its tested runs (a seed), e.g. imdb=runs/imdb-1")
    parser.add_argument("--out", type=str, default="ablation.png", help="where to write the figure")
    return parser


def run(invocation: Invocation) -> int:
    from rnn_lightning.analysis.ablation import format_ablation_table, plot_ablation, read_parts_score

    groups: dict[str, list] = {}
    for argument in invocation.config.runs:
        name, separator, path = argument.partition("=")
        if not separator or not name or not path:
            return invocation.fail(f"{argument!r}: give each run as DATA=RUN_DIR")
        try:
            groups.setdefault(name, []).append(read_parts_score(path))
        except (FileNotFoundError, ValueError) as error:
            return invocation.fail(error)
    print(format_ablation_table(groups), end="")
    print(f"wrote {plot_ablation(groups, invocation.config.out)}")
    return 0
