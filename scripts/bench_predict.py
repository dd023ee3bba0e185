"""Time ``predict --file`` in fresh processes: ``rnn-lightning timepredict`` as a script."""

import sys

from rnn_lightning.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["timepredict", *sys.argv[1:]], prog="bench_predict.py"))
