"""Trained models on disk, read without Lightning: finding a run's checkpoint, loading it, taking it apart.

Reading a file needs torch alone (imported when a file is read), so that loading a model for prediction or
serving never imports the training stack (:mod:`rnn_lightning.training` writes the files; this module reads them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rnn_lightning.data.sources import CLASS_NAMES
from rnn_lightning.data.spec import TextSpec, is_binary
from rnn_lightning.settings import ModelSettings, OptimizerSettings

if TYPE_CHECKING:
    import torch
    from torch import nn

ModuleT = TypeVar("ModuleT", bound="nn.Module")

LAST = "last.ckpt"
TEXT_SPEC_KEY = "text_spec"  # where a checkpoint keeps the data's side of the model


@dataclass(frozen=True)
class ExportFormat:
    """How ``rnn-lightning export`` lays out an ONNX file: the graph's input and output, and its metadata keys.

    :mod:`~rnn_lightning.models.export` writes it and :mod:`~rnn_lightning.serving.portable` reads it; the text
    spec and the network's settings travel as JSON under the metadata keys.
    """

    version: int = 1
    input: str = "ids"
    output: str = "probabilities"
    version_key: str = "rnn_lightning.format"
    text_spec_key: str = "rnn_lightning.text_spec"
    model_key: str = "rnn_lightning.model"
    #: Present ("true") when the graph takes ids cut short in front (the columns that are padding in every row
    #: dropped) and answers as for the whole rows; files exported before it need every row at full length.
    cut_padding_key: str = "rnn_lightning.cut_padding"


EXPORT_FORMAT = ExportFormat()


def is_exported(path: str | Path) -> bool:
    """Whether ``path`` names an exported model (run by onnxruntime) rather than a checkpoint (run by torch)."""
    return Path(path).suffix == ".onnx"


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, untrusted, or not one of this project's."""


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint file with ``torch.load(weights_only=True)``: tensors and plain values only.

    Raises:
        CheckpointError: With a one-line reason, if the file is missing, empty, corrupt, holds objects that
            would need code to rebuild (a pickle payload, say), or is not a Lightning checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty")
    with path.open("rb") as handle:
        start = handle.read(4)
    if not start.startswith((b"PK\x03\x04", b"\x80")):  # torch.save's zip archive, or a legacy pickle
        raise CheckpointError(f"{path} is not a checkpoint file (not what torch.save writes)")
    import torch  # only now: finding checkpoints, and refusing what is not one, import nothing heavy

    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - arbitrary bytes make torch.load raise almost any type
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path} is not a loadable checkpoint: {reason}") from error
    if not isinstance(checkpoint, dict) or not {"state_dict", "hyper_parameters"} <= checkpoint.keys():
        raise CheckpointError(f"{path} is not a Lightning checkpoint with hyperparameters")
    return checkpoint


def load_checkpoint_into(path: str | Path, build: Callable[[ModelSettings, OptimizerSettings, TextSpec], ModuleT],
                         map_location: str | torch.device = "cpu") -> ModuleT:
    """Build a module from a checkpoint's settings and text spec, load its weights, and put it in eval mode.

    Args:
        path: The checkpoint file (either layout it had).
        build: Makes the empty module from the settings and spec, e.g. a ``TextClassifier`` or a ``Classifier``.
        map_location: Device to load the weights onto.

    Raises:
        CheckpointError: With a one-line reason, for a missing file, a file that is not a checkpoint, or a
            checkpoint of some other model.
    """
    checkpoint = read_checkpoint(path, map_location)
    try:
        module = build(*checkpoint_parts(checkpoint))
        module.load_state_dict(checkpoint["state_dict"])
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from error
    except (RuntimeError, ValueError, TypeError, KeyError) as error:
        raise CheckpointError(f"{path} does not fit this model: {str(error).splitlines()[0]}") from error
    return module.to(map_location).eval()


# Before the settings objects (bc6124b and earlier): flat hyperparameters, the vocabulary and class names under
# keys of their own or in the DataModule's state (saved under its class name).
_FLAT_MODEL_KEYS = {"embed_dim", "hidden_size", "num_layers", "cell", "single_bias", "mask_padding"}
_FLAT_KEYS = _FLAT_MODEL_KEYS | {"num_words", "fast_cpu_path", "lr", "rho", "eps", "num_classes"}
_DATAMODULE_KEYS = ("TextDataModule", "IMDBDataModule")


def checkpoint_parts(checkpoint: Mapping[str, Any]) -> tuple[ModelSettings, OptimizerSettings, TextSpec]:
    """The settings and text spec a :class:`TextClassifier` checkpoint was made with, in either layout it had.

    Raises:
        CheckpointError: If the checkpoint is not one of a :class:`TextClassifier`, names code to run, or
            holds no vocabulary.
    """
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    if "_instantiator" in hparams:
        raise CheckpointError("it names a callable to build the model (_instantiator): refused, no code is run")
    nested = set(hparams) == {"model", "optimizer"}
    if not nested and not set(hparams) <= _FLAT_KEYS:
        raise CheckpointError(f"it is a checkpoint of another model (hyperparameters {sorted(hparams)})")
    try:
        if nested:
            # Checkpoints from before ngram_hash learnt their branch with the first hash: they keep it.
            model = ModelSettings(**{"ngram_hash": 1, **hparams["model"]})
            optimizer = OptimizerSettings(**hparams["optimizer"])
            return model, optimizer, TextSpec.from_dict(checkpoint[TEXT_SPEC_KEY])
        model = ModelSettings(**{key: hparams[key] for key in _FLAT_MODEL_KEYS & hparams.keys()},
                              fast_path=hparams.get("fast_cpu_path", True))
        optimizer = OptimizerSettings(**{key: hparams[key] for key in ("lr", "rho", "eps") if key in hparams})
        return model, optimizer, _flat_layout_spec(checkpoint, hparams.get("num_classes", 2))
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"it does not fit this model: {str(error).splitlines()[0]}") from error


def _flat_layout_spec(checkpoint: Mapping[str, Any], num_classes: int) -> TextSpec:
    data_state = next((checkpoint[key] for key in _DATAMODULE_KEYS if isinstance(checkpoint.get(key), dict)), {})
    encoder = checkpoint.get("text_encoder", data_state.get("text_encoder"))
    if encoder is None:
        raise CheckpointError("it holds no vocabulary: it was not trained on a TextDataModule")
    names = checkpoint.get("label_names", data_state.get("label_names"))
    if names is None and is_binary(num_classes):
        names = CLASS_NAMES  # trained before class names were saved: on IMDB
    return TextSpec.from_dict({"encoder": encoder, "label_names": names,
                               "review_words": data_state.get("review_words")})


def newest_run(logdir: str | Path, holding: str = "checkpoints/*.ckpt") -> Path:
    """The run folder (``logdir/version_N/``) most recently written to, among those holding ``holding``.

    Every script that defaults to "the newest run" asks this one function, so they all agree: the run
    whose matching file (a checkpoint, say, or a TensorBoard event file) was written last. A resumed older
    run is therefore newer than a later run that has stopped.

    Args:
        logdir: The log folder.
        holding: Glob, relative to a run folder, of the files that make a run count and date it.

    Raises:
        FileNotFoundError: If no run under ``logdir`` holds such a file.
    """
    files = list(Path(logdir).glob(f"version_*/{holding}"))
    if not files:
        raise FileNotFoundError(f"no run under {logdir}/ holds version_*/{holding}")
    newest = max(files, key=lambda path: path.stat().st_mtime_ns)
    return Path(logdir) / newest.relative_to(logdir).parts[0]


def find_last_checkpoint(logdir: str | Path) -> Path:
    """The ``last.ckpt`` of the newest run under ``logdir`` that has one.

    Raises:
        FileNotFoundError: If there is none, rather than silently training from scratch.
    """
    try:
        return newest_run(logdir, f"checkpoints/{LAST}") / "checkpoints" / LAST
    except FileNotFoundError:
        raise FileNotFoundError(f"--ckpt-path last: no {LAST} under {logdir}/version_*/checkpoints/") from None


def find_best_checkpoint(logdir: str | Path, monitor: str = "val/acc") -> Path:
    """The best checkpoint of the newest run under ``logdir``, as its ``ModelCheckpoint`` recorded it.

    The record is the checkpoint callback's own state, saved in every checkpoint of the run (the newest
    one is read); file names are for people and are never parsed. A run folder that was moved still works:
    the recorded file is looked up beside the checkpoint that recorded it.

    Raises:
        FileNotFoundError: If no run under ``logdir`` has saved a checkpoint.
        CheckpointError: If the run's checkpoints record no best checkpoint for ``monitor``, or it is gone.
    """
    try:
        run = newest_run(logdir)
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint under {logdir}/version_*/checkpoints/: train first or pass --ckpt"
                                ) from None
    checkpoints = run / "checkpoints"
    newest = max(checkpoints.glob("*.ckpt"), key=lambda path: path.stat().st_mtime_ns)
    record = read_checkpoint(newest).get("callbacks", {})
    recorded = [state["best_model_path"] for state in record.values()
                if isinstance(state, dict) and state.get("monitor") == monitor and state.get("best_model_path")]
    if not recorded:
        raise CheckpointError(f"{newest} records no best checkpoint by {monitor}: pass --ckpt")
    best = checkpoints / Path(recorded[0]).name
    if not best.is_file():
        raise CheckpointError(f"{newest} records {best.name} as the best checkpoint, but it is not in {checkpoints}")
    return best
