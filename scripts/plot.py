"""Draw the curves and the confusion matrix: ``rnn-lightning plot`` under its earlier name."""

import sys

from rnn_lightning.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["plot", *sys.argv[1:]], prog="plot.py"))
