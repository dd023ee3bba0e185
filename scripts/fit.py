"""Train the study's model: ``rnn-lightning fit`` under the name this project has always been run by."""

import sys

from rnn_lightning.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["fit", *sys.argv[1:]], prog="fit.py"))
