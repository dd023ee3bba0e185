"""The depth experiment (Findings II): ``rnn-lightning depth`` under its earlier name."""

import sys

from rnn_lightning.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["depth", *sys.argv[1:]], prog="depth_experiment.py"))
