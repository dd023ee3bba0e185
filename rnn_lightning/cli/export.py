"""Export a checkpoint as one ONNX file that classifies raw text with onnxruntime and numpy alone (no torch)."""

from __future__ import annotations

import sys
from pathlib import Path

from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, new_parser


def parser() -> ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument("--ckpt", type=str | None, default=None,
                        help="checkpoint file (default: the best checkpoint of the newest run under --logdir)")
    parser.add_argument("--logdir", default="lightning_logs", help="where to look for the default checkpoint")
    parser.add_argument("--onnx", type=str | None, default=None,
                        help="the file to write (default: the checkpoint's path with .onnx for .ckpt)")
    return parser


def run(invocation: Invocation) -> int:
    args = invocation.config
    import onnx  # noqa: F401 - missing, main() names the extra to install: before the model is loaded

    from rnn_lightning.models.export import export_onnx
    from rnn_lightning.models.saved import find_best_checkpoint
    from rnn_lightning.serving.inference import CheckpointError, load_model, predict_proba

    try:
        ckpt = Path(args.ckpt) if args.ckpt else find_best_checkpoint(args.logdir)
        target = Path(args.onnx) if args.onnx else ckpt.with_suffix(".onnx")
        if target.suffix != ".onnx":
            raise ValueError(f"--onnx {target}: the file must end in .onnx (that is how predict and serve tell it "
                             "from a checkpoint)")
        if not target.parent.is_dir():
            raise FileNotFoundError(f"--onnx {target}: no such folder {target.parent}")
        model = load_model(ckpt)
    except (CheckpointError, FileNotFoundError, ValueError) as error:
        return invocation.fail(error)
    export_onnx(model, target)
    # The exported file answers one text before it is announced: a graph onnxruntime cannot run fails here.
    probabilities = predict_proba(load_model(target), ["a first text to check the exported model"])[0]
    print(f"{invocation.prog}: wrote {target} ({target.stat().st_size / 1e6:.1f} MB; {len(probabilities)} classes): "
          f"rnn-lightning predict --ckpt {target} 'some text'", file=sys.stderr)
    return 0
