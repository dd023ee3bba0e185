"""The vanishing-gradient probe: ``rnn-lightning probe`` under its earlier name."""

import sys

from rnn_lightning.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["probe", *sys.argv[1:]], prog="probe_gradients.py"))
