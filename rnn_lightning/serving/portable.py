"""Run an exported model (``rnn-lightning export``) with onnxruntime and numpy alone: no torch, no Lightning.

``pip install "rnn-lightning[runtime]"`` installs what this needs and nothing of the training stack. The text is
tokenised and encoded by the same code as in training (:mod:`rnn_lightning.data.text`), from the vocabulary and
settings the file carries, so the answers are the checkpoint's (to float rounding: the exported graph runs
onnxruntime's RNN operators where the checkpoint runs the compiled recurrences).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rnn_lightning.data.spec import ReadsTextSpec, TextSpec
from rnn_lightning.data.text import row_runs
from rnn_lightning.models.saved import EXPORT_FORMAT as FORMAT
from rnn_lightning.models.saved import CheckpointError


class PortableClassifier(ReadsTextSpec):
    """An exported classifier and its text spec: padded ids in, every class's probability out.

    Args:
        session: An onnxruntime ``InferenceSession`` of the exported graph.
        text: The vocabulary, text settings and class names the model was trained with.
        settings: The network's settings as saved (plain values).
    """

    #: Rows run together after sorting by length: few enough that a batch's rows are of similar length, enough
    #: that each of onnxruntime's steps has rows to work on.
    rows_per_run = 64
    #: Prediction runs the network on a thread of its own while it encodes the next texts: see ``iter_probabilities``.
    overlaps_encoding = True

    def __init__(self, session: Any, text: TextSpec, settings: dict[str, Any], cuts_padding: bool = False) -> None:
        self.session, self.text, self.settings, self.cuts_padding = session, text, settings, cuts_padding

    @classmethod
    def load(cls, path: str | Path, threads: int | None = 1) -> PortableClassifier:
        """Open an exported model.

        Args:
            path: A file written by ``rnn-lightning export``.
            threads: onnxruntime's threads within an operator; None: its own choice, one per core. One by default:
                a recurrent step of a few dozen rows is too small to share (two threads were slower on 2 cores),
                and prediction encodes the next batch on the other core meanwhile.

        Raises:
            CheckpointError: With a one-line reason, for a missing file, a file onnxruntime cannot read, or an
                ONNX model that ``rnn-lightning export`` did not write.
        """
        import onnxruntime  # the runtime extra

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such exported model file")
        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        try:
            session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own types for any unreadable file
            reason = " ".join(str(error).split())[:200] or type(error).__name__
            raise CheckpointError(f"{path} is not a loadable ONNX model: {reason}") from error
        metadata = session.get_modelmeta().custom_metadata_map
        if metadata.get(FORMAT.version_key) != str(FORMAT.version) or FORMAT.text_spec_key not in metadata:
            raise CheckpointError(f"{path} is an ONNX model, but not one rnn-lightning export wrote (format "
                                  f"{FORMAT.version}): it carries no vocabulary")
        try:
            text = TextSpec.from_dict(json.loads(metadata[FORMAT.text_spec_key]))
            settings = json.loads(metadata.get(FORMAT.model_key, "{}"))
        except ValueError as error:
            raise CheckpointError(f"{path}: its text spec is unreadable ({error})") from error
        return cls(session, text, settings, metadata.get(FORMAT.cut_padding_key) == "true")

    @property
    def skips_padding(self) -> bool:
        return bool(self.settings.get("mask_padding", False))

    def probabilities_of(self, ids: np.ndarray) -> np.ndarray:
        """``(texts, classes)`` float32 probabilities for ids padded in front (as the encoder makes them).

        Rows run :attr:`rows_per_run` at a time, so memory does not grow with the batch (for 2,048 rows of a
        bidirectional network that cannot cut them: 500 MB at peak against 1,257 MB in one run, and 7% faster). Where
        the graph allows it (:attr:`cuts_padding`), each run holds rows of similar length, cut to its longest row: the
        columns dropped are padding in every row of the run, so the answers are those of the whole rows, at the cost
        of the words alone.
        """
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        probabilities = np.empty((len(ids), self.num_classes), dtype=np.float32)
        # No rows give no run, as they must: onnxruntime's LSTM operator aborts the whole process on a batch of none.
        for rows, start in row_runs(ids, self.rows_per_run, self.cuts_padding):
            probabilities[rows] = self._run(ids[rows, start:])
        return probabilities

    def _run(self, ids: np.ndarray) -> np.ndarray:
        return self.session.run([FORMAT.output], {FORMAT.input: np.ascontiguousarray(ids)})[0]
