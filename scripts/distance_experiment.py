"""The distance experiment (Findings II): ``rnn-lightning distance``, under the script name earlier releases documented."""

import sys

from rnn_lightning.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["distance", *sys.argv[1:]], prog="distance_experiment.py"))
