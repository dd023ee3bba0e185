"""Classify raw texts with one checkpoint: ``rnn-lightning predict`` under its earlier name."""

import sys

from rnn_lightning.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["predict", *sys.argv[1:]], prog="predict.py"))
