"""The docs cannot drift from the code: every command they show parses, and the flag reference is generated."""

import re
import shlex
from pathlib import Path

import pytest

from rnn_lightning.cli.flags import reference
from rnn_lightning.cli.main import COMMANDS, main, parse

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))
SCRIPTS = {"fit": "fit", "predict": "predict", "serve": "serve", "inspect_data": "inspect", "plot": "plot",
           "bench": "bench", "probe_gradients": "probe", "distance_experiment": "distance",
           "depth_experiment": "depth", "bench_serve": "loadtest", "screenshot_page": "screenshot",
           "bench_predict": "timepredict", "folds": "folds"}
STOP = {">", "|", "&&", ";", "2>&1", "2>"}


def logical_lines(text: str) -> list[tuple[int, str]]:
    """``(line number, line)`` of a shell text, continuation lines joined."""
    lines, pending, first = [], "", 0
    for number, line in enumerate(text.splitlines(), 1):
        first = first or number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        lines.append((first, pending + line))
        pending, first = "", 0
    return lines


def shown_commands() -> list[tuple[str, list[str]]]:
    """Every invocation of ours in the docs' shell blocks and in scripts/*.sh: ``(where, argv)``."""
    found = []
    sources = [(path, block.group(1), path.read_text()[:block.start()].count("\n") + 1)
               for path in DOCS for block in re.finditer(r"```bash\n(.*?)```", path.read_text(), re.S)]
    sources += [(path, path.read_text(), 0) for path in SHELL_SCRIPTS]
    for path, text, offset in sources:
        for number, line in logical_lines(text):
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError:  # a here-document's Python, say: not a command line of ours
                continue
            cut = next((i for i, token in enumerate(tokens) if token in STOP or token.startswith(">")), len(tokens))
            tokens = [re.sub(r"\$\{?(\w+)\}?", lambda m: "rnn" if m.group(1) == "cell" else "x", token)
                      for token in tokens[:cut] if token != "..."]
            command = _ours(tokens)
            if command:
                found.append((f"{path.relative_to(ROOT)}:{offset + number}", command))
    return found


def _ours(tokens: list[str]) -> list[str] | None:
    for index, token in enumerate(tokens):
        if token.endswith("rnn-lightning"):
            return tokens[index + 1:]
        if match := re.search(r"scripts/(\w+)\.(py|sh)$", token):
            name = match.group(1)
            return [SCRIPTS.get(name, f"script:{token}"), *tokens[index + 1:]]
        if token == "make" and index == 0:
            return ["make", *tokens[1:]]
    return None


COMMANDS_SHOWN = shown_commands()


def test_the_docs_show_commands_of_every_kind():
    kinds = {argv[0] for _, argv in COMMANDS_SHOWN}
    assert {"fit", "predict", "serve", "inspect", "plot", "bench", "probe", "distance", "depth", "make"} <= kinds


@pytest.mark.parametrize("where, argv", COMMANDS_SHOWN, ids=[where for where, _ in COMMANDS_SHOWN])
def test_every_command_shown_parses_with_the_real_command_line(where, argv, tmp_path, capsys):
    if argv[0] == "make":
        targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
        assert argv[1] in targets, f"{where}: no make target {argv[1]}"
        arguments = next((arg.split("=", 1)[1] for arg in argv[2:] if arg.startswith("ARGS=")), None)
        if argv[1] != "fit" or arguments is None:
            return
        argv = ["fit", *shlex.split(arguments)]
    if argv[0].startswith("script:"):
        assert (ROOT / argv[0].split(":", 1)[1]).is_file(), where
        return
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")
    # A config file the docs write first (run.yaml, a run's config.yaml) does not exist here: an empty one stands in.
    argv = [str(empty) if previous == "--config" and not Path(arg).is_file() else arg
            for previous, arg in zip(["", *argv[:-1]], argv, strict=True)]
    try:
        parse(argv)
    except SystemExit as done:  # --print_config prints and stops
        assert done.code == 0, f"{where}: {capsys.readouterr().err}"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0 and re.match(rf"usage: rnn-lightning \S* ?{name}\b", capsys.readouterr().out)


def test_every_script_calls_its_subcommand():
    for script in (ROOT / "scripts").glob("*.py"):
        assert f'main(["{SCRIPTS[script.stem]}", *sys.argv[1:]], prog="{script.name}")' in script.read_text(), script


def test_the_flag_reference_is_generated_from_the_settings():
    assert (ROOT / "docs" / "flags.md").read_text(encoding="utf-8") == reference(), (
        "docs/flags.md is stale: rnn-lightning flags > docs/flags.md")


def test_every_doc_page_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"(docs/{page.name})" in readme for page in (ROOT / "docs").glob("*.md"))
    assert len(readme.splitlines()) <= 260  # a front page
