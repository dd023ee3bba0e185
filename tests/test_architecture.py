"""The package's shape: layers that import only downwards, no import cycles, no side effects at import."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rnn_lightning"
# Lowest first: a module may import its own layer and those below it, never one above.
LAYERS = ["settings", "environment", "fileio", "data", "models", "training", "serving", "analysis", "cli"]
LEVEL = {"settings": 0, "environment": 0, "fileio": 0, "recipes": 0,
         "data": 1, "models": 2, "training": 3, "serving": 4,
         "analysis": 5, "cli": 6}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every rnn_lightning module ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rnn_lightning"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if (PACKAGE.parent / f"{node.module}.{alias.name}".replace(".", "/")).with_suffix(".py")
                         .is_file())
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("rnn_lightning"))
    return found - {"rnn_lightning"}


def layer(module: str) -> int:
    return LEVEL[module.split(".")[1]]


MODULES = {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"}


def test_every_module_belongs_to_a_layer():
    assert {module.split(".")[1] for module in MODULES} <= set(LEVEL)


def test_no_module_imports_from_a_higher_layer():
    upward = sorted(f"{module} -> {target}" for module, targets in MODULES.items() for target in targets
                    if layer(target) > layer(module))
    assert upward == []


def test_no_two_modules_import_each_other_in_a_loop():
    graph = {module: {target for target in targets if target in MODULES} for module, targets in MODULES.items()}
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in graph[module]:
            assert state.get(target) != "open", " -> ".join([*path, module, target])
            if target not in state:
                visit(target, [*path, module])
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [])


def test_importing_the_package_changes_nothing_in_the_process():
    # Every module imported in a fresh process: the plotting backend, warning filters, logger levels, environment
    # variables and subnormal flushing are as they were before.
    code = """
import importlib, logging, os, pkgutil, warnings, matplotlib, torch
# Our dependencies first: what importing them does is theirs.
import jsonargparse, lightning.pytorch, litserve, torchmetrics, torchdata.stateful_dataloader, docstring_parser
import matplotlib.figure, tensorboard.backend.event_processing.event_accumulator, filelock, tqdm.auto, yaml
import rnn_lightning
def state():
    return (matplotlib.rcParams._get_backend_or_none(), list(warnings.filters), dict(os.environ),
            {name: logging.getLogger(name).level for name in ("lightning", "lightning.pytorch", "torch")},
            torch.tensor([1e-40]).mul(1.0).item() != 0.0)
before = state()
for module in pkgutil.walk_packages(rnn_lightning.__path__, "rnn_lightning."):
    importlib.import_module(module.name)
after = state()
names = ("backend", "filters", "env", "loggers", "subnormals")
assert before == after, [name for name, a, b in zip(names, before, after) if a != b]
print("unchanged")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "unchanged", result.stderr[-2000:]


def test_only_one_module_reads_the_environment():
    readers = sorted(module for module in MODULES
                     if "os.environ" in (PACKAGE.parent / module.replace(".", "/")).with_suffix(".py").read_text()
                     or "getenv" in (PACKAGE.parent / module.replace(".", "/")).with_suffix(".py").read_text())
    # compiled.py only puts the ninja wheel's folder on PATH while torch builds, and restores it after.
    assert readers == ["rnn_lightning.environment", "rnn_lightning.models.compiled"]


def test_the_command_line_checks_its_arguments_without_loading_torch():
    code = ("import sys; from rnn_lightning.cli.main import main; status = main(['fit', '--data.maxlen', '0']); "
            "assert status == 2, status; assert 'torch' not in sys.modules, 'torch was imported'; print('light')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "light", result.stderr[-2000:]
    assert "maxlen must be at least 1, got 0" in result.stderr
