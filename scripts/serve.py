"""Serve one checkpoint over HTTP: ``rnn-lightning serve`` under its earlier name."""

import sys

from rnn_lightning.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]], prog="serve.py"))
