"""Shipped configs chosen by name: ``rnn-lightning fit --recipe strong`` reads ``strong.yaml`` from here.

A recipe is an ordinary config file (what ``--print_config`` writes, with only the settings it changes), so
``--recipe NAME`` means ``--config <this folder>/NAME.yaml``: flags after it override it, and the run's saved
``config.yaml`` holds every resolved value, as for any run. The study's faithful settings stay the default.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
FLAG = "--recipe"


def names() -> list[str]:
    """The shipped recipes' names."""
    return sorted(path.stem for path in FOLDER.glob("*.yaml"))


def recipe_path(name: str) -> Path:
    """The config file of recipe ``name``.

    Raises:
        ValueError: If there is no such recipe (the message lists those there are).
    """
    path = FOLDER / f"{name}.yaml"
    if name not in names():
        raise ValueError(f"no recipe {name!r} (recipes: {', '.join(names())})")
    return path


def expand_recipes(argv: Sequence[str]) -> list[str]:
    """``argv`` with each ``--recipe NAME`` (or ``--recipe=NAME``) read as ``--config`` and its file, in place.

    ``--recipe=NAME`` stays after it, so that the run's saved config says which recipe it started from.

    Raises:
        ValueError: For an unknown recipe, or ``--recipe`` without a name.
    """
    out: list[str] = []
    tokens = list(argv)
    while tokens:
        token = tokens.pop(0)
        if token == "--":
            return [*out, token, *tokens]
        if token == FLAG or token.startswith(f"{FLAG}="):
            name = token.partition("=")[2] if "=" in token else tokens.pop(0) if tokens else ""
            if not name:
                raise ValueError(f"{FLAG} needs a name (recipes: {', '.join(names())})")
            out += ["--config", str(recipe_path(name)), f"{FLAG}={name}"]  # the latter: the run's config names it
            continue
        out.append(token)
    return out
