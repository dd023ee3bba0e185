"""The distance experiment (Findings II): ``rnn-lightning distance`` under its earlier name."""

import sys

from rnn_lightning.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["distance", *sys.argv[1:]], prog="distance_experiment.py"))
