"""Decode one encoded text back to words: ``rnn-lightning inspect`` under its earlier name."""

import sys

from rnn_lightning.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["inspect", *sys.argv[1:]], prog="inspect_data.py"))
