import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIT_FLAGS = ["--accelerator", "--devices", "--strategy", "--num-nodes", "--precision", "--max-epochs", "--batch-size",
             "--lr", "--cell", "--seed", "--data-source", "--data-dir", "--logdir", "--ckpt-path",
             "--limit-train-batches", "--limit-val-batches", "--fast-dev-run", "--test"]


def run_script(name: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_fit_help_documents_every_flag():
    result = run_script("fit.py", "--help")
    assert result.returncode == 0
    for flag in FIT_FLAGS:
        assert flag in result.stdout, flag


@pytest.mark.slow
def test_fit_cli_trains_a_tiny_model_and_reports_where_things_are(tiny_archive, tmp_path):
    result = run_script("fit.py", "--data-source", str(tiny_archive), "--data-dir", str(tmp_path / "data"),
                        "--logdir", str(tmp_path / "logs"), "--num-words", "30", "--maxlen", "24",
                        "--max-epochs", "1", "--limit-train-batches", "2", "--accelerator", "cpu", "--test")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Trainable params: 9,313" in result.stdout  # the Keras-style summary, with this run's num_words
    assert "best val/acc:" in result.stdout and "test/acc of the best checkpoint:" in result.stdout
    assert f"tensorboard --logdir {tmp_path / 'logs'}" in result.stdout
    assert list((tmp_path / "logs").glob("version_0/checkpoints/epoch=00-val_acc=*.ckpt"))
    assert list((tmp_path / "logs").glob("version_0/events.out.tfevents.*"))


def test_fit_cli_reports_a_missing_source_in_one_line(tmp_path):
    result = run_script("fit.py", "--data-source", str(tmp_path / "nope.tar.gz"), "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("fit.py: error: IMDB source")


def test_inspect_data_decodes_a_review(tiny_archive, tmp_path):
    result = run_script("inspect_data.py", "--data-source", str(tiny_archive), "--data-dir", str(tmp_path),
                        "--num-words", "30", "--maxlen", "24", "--index", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("review 3 of train: label 0 (negative)")
    assert lines[1].startswith("first ids: [")
    words = set(lines[2].split())
    assert words and words <= {"?", "the", "film", "a", "plot", "actor", "scene", "movie", "it's", "story", "and",
                                "awful", "boring", "dull", "terrible", "hated", "pointless", "great", "wonderful",
                                "moving", "brilliant", "loved", "superb"}
