"""Run by test_ddp: fit with DDP on CPU and record each rank's validation metrics in OUT/rank<N>.json.

Lightning's DDP launcher starts rank 1 by running this same file again, so it must be a script.
"""

import json
import sys
from pathlib import Path

import lightning as L

from rnn_lightning.data.datamodule import TextDataModule
from rnn_lightning.settings import DataSettings, ModelSettings, OptimizerSettings, TrainSettings
from rnn_lightning.training.module import TextClassifier
from rnn_lightning.training.trainer import fit


class RecordValidation(L.Callback):
    def __init__(self, out: Path) -> None:
        self.out = out

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = {key: float(value) for key, value in trainer.callback_metrics.items() if key.startswith("val/")}
        metrics["val_batches"] = int(sum(trainer.num_val_batches))
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(metrics))


if __name__ == "__main__":
    archive, out, mask = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "mask"
    L.seed_everything(0, verbose=False)
    datamodule = TextDataModule(DataSettings(source=archive, data_dir=str(out / "data"), num_words=30, maxlen=24,
                                             batch_size=4, group_by_length=mask))
    model = ModelSettings(embed_dim=8, hidden_size=8, num_layers=2, mask_padding=mask)
    train = TrainSettings(logdir=str(out / "logs"), accelerator="cpu", devices=2, strategy="ddp", max_epochs=1,
                          limit_train_batches=3)
    # As the fit command does: each rank prepares the data (under a file lock) and builds the model from it.
    fit(lambda spec: TextClassifier(model, OptimizerSettings(), spec), datamodule, train, enable_progress_bar=False,
        callbacks=[RecordValidation(out)])
