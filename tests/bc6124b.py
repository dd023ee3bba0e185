"""The fixtures of commit bc6124b (before the settings objects), made by that commit's own code at test time.

Its source comes out of the project's history (``git archive``) and runs in subprocesses beside today's packages,
on the tiny data of ``conftest.py``: so the restructured code is held to what that code does on this machine, to
the last bit, and no build output is tracked. The commands are those of that release, as they were typed then.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import torch

RELEASE = "bc6124b"
ROOT = Path(__file__).resolve().parent.parent
TINY_RUN = ["--num-words", "30", "--maxlen", "24", "--batch-size", "16", "--max-epochs", "2", "--accelerator", "cpu",
            "--seed", "0", "--deterministic"]
WEIGHT_RUNS = {"faithful": [], "mask_padding": ["--mask-padding"], "lstm": ["--cell", "lstm"]}
TOPICS_RUN = ["--num-words", "40", "--maxlen", "16", "--batch-size", "16", "--max-epochs", "3", "--cell", "gru",
              "--accelerator", "cpu", "--seed", "0"]
TEXTS = ["great wonderful film", "awful boring plot and dull actor", "the movie",
         "superb story, loved it. the scene was terrible though", "match goal striker league", "shares profit market",
         "software chip internet laptop", "unknownword"]
# What that release's predict_proba() gives for TEXTS with each checkpoint, by its own code.
_PREDICT = """import json, sys
from rnn_lightning.inference import load_model, predict_proba
model = load_model(sys.argv[1])
answers = predict_proba(model, json.loads(sys.argv[2]))
print(json.dumps({"class_names": list(model.class_names), "probabilities": answers}))
"""


class ReleaseUnavailable(RuntimeError):
    """The clone holds no history back to the release (a shallow clone, or a copy without .git)."""


def build_release_fixtures(tiny_archive: Path, topics: Path, out: Path) -> Path:
    """Write into ``out`` what the code of bc6124b makes: two checkpoints, its predictions and its trained weights.

    Args:
        tiny_archive: The tiny IMDB-layout archive (``write_tiny_archive``, seed 0).
        topics: A folder of ``train.csv`` (300 rows, seed 0), ``test.csv`` (90 rows, seed 1) and ``classes.txt``.
        out: Where the files go: ``imdb_rnn_bc6124b.ckpt``, ``topics_gru_bc6124b.ckpt``,
            ``predictions_bc6124b.json`` and ``weights_bc6124b.pt`` (the state dicts of ``WEIGHT_RUNS``).

    Raises:
        ReleaseUnavailable: If git cannot give the release's source.
    """
    source = out / "source"
    _extract_release(source)
    runs = {name: _fit(source, out / "runs" / name, ["--data-source", str(tiny_archive), *TINY_RUN, *flags])
            for name, flags in WEIGHT_RUNS.items()}
    runs["topics"] = _fit(source, out / "runs" / "topics", ["--data-source", str(topics), *TOPICS_RUN])
    checkpoints = {"imdb_rnn_bc6124b.ckpt": runs["faithful"], "topics_gru_bc6124b.ckpt": runs["topics"]}
    for name, path in checkpoints.items():
        (out / name).write_bytes(path.read_bytes())
    predictions = {}
    for name in checkpoints:
        printed = _run(source, ["-c", _PREDICT, str(out / name), json.dumps(TEXTS)])
        predictions[name] = {**json.loads(printed.splitlines()[-1]), "texts": TEXTS}
    (out / "predictions_bc6124b.json").write_text(json.dumps(predictions), encoding="utf-8")
    weights = {name: torch.load(runs[name], map_location="cpu", weights_only=True)["state_dict"]
               for name in WEIGHT_RUNS}
    torch.save({"weights": weights}, out / "weights_bc6124b.pt")
    return out


def _extract_release(into: Path) -> None:
    # The history is asked by its folder, not by ROOT: ROOT may be an untracked copy inside a checkout (mutmut's
    # mutants/), where `git archive` refuses to run but the history is the checkout's all the same.
    found = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--absolute-git-dir"], capture_output=True, text=True)
    if found.returncode != 0:
        raise ReleaseUnavailable(f"no git history at {ROOT}: {found.stderr.strip()}")
    archive = subprocess.run(["git", f"--git-dir={found.stdout.strip()}", "archive", RELEASE], capture_output=True)
    if archive.returncode != 0:
        raise ReleaseUnavailable(f"git archive {RELEASE}: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")


def _fit(source: Path, logdir: Path, args: list[str]) -> Path:
    _run(source, [str(source / "scripts" / "fit.py"), "--logdir", str(logdir), "--data-dir", str(logdir / "data"),
                  *args])
    return logdir / "version_0" / "checkpoints" / "last.ckpt"


def _run(source: Path, args: list[str]) -> str:
    """Run Python on the release's package (not today's), in its own folder; its stdout."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run([sys.executable, *args], cwd=source, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{RELEASE}'s code failed ({' '.join(args[:1])}):\n{done.stderr[-3000:]}")
    return done.stdout
