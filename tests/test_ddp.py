import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnn_lightning.serving.inference import load_model

from .conftest import make_datamodule

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["plain", "mask"])
def test_ddp_on_two_cpu_ranks_synchronises_validation_metrics(tiny_archive, tmp_path, mode):
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "ddp_worker.py"), str(tiny_archive), str(tmp_path),
                             mode], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert ranks[0] == ranks[1]  # both ranks hold the globally reduced metrics
    assert ranks[0]["val_batches"] == 2  # 16 validation reviews, 8 per rank, batches of 4

    # The synchronised accuracy is the accuracy over the whole validation split, not one rank's half.
    model = load_model(next((tmp_path / "logs").glob("version_0/checkpoints/last.ckpt")))

    datamodule = make_datamodule(source=str(tiny_archive), data_dir=str(tmp_path / "data"), num_words=30, maxlen=24)
    datamodule.setup("fit")
    ids, labels = datamodule.val_set.tensors
    with torch.no_grad():
        accuracy = float(((torch.sigmoid(model(ids)) >= 0.5).float() == labels).float().mean())
    assert ranks[0]["val/acc"] == pytest.approx(accuracy, abs=1e-6)
