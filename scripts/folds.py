"""Split a training file into k folds for cross-validation: ``rnn-lightning folds`` as a script."""

import sys

from rnn_lightning.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["folds", *sys.argv[1:]], prog="folds.py"))
