"""Benchmark training: ``rnn-lightning bench`` under its earlier name."""

import sys

from rnn_lightning.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]], prog="bench.py"))
