"""Load-test the HTTP API: ``rnn-lightning loadtest`` under its earlier name."""

import sys

from rnn_lightning.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["loadtest", *sys.argv[1:]], prog="bench_serve.py"))
