"""A screenshot of the server's page: ``rnn-lightning screenshot`` under its earlier name."""

import sys

from rnn_lightning.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["screenshot", *sys.argv[1:]], prog="screenshot_page.py"))
