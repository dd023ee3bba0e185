"""Type a review into a running server's page, classify it, and save a screenshot (for the README).

Drives Debian's chromium through Playwright (browsers cannot be downloaded here).

Example:
  python scripts/serve.py --ckpt CKPT &
  python scripts/screenshot_page.py --url http://127.0.0.1:8000 --out docs/serve_page.png
"""

from __future__ import annotations

import argparse
import shutil
import sys

from playwright.sync_api import sync_playwright

from rnn_lightning.cli.arguments import Parser, fail

PROG = "screenshot_page.py"
REVIEW = ("A moving, beautifully acted film. The story drags a little in the middle, but the ending is wonderful "
          "and I loved every minute of it.")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running server")
    parser.add_argument("--text", default=REVIEW, help="what to type into the page")
    parser.add_argument("--out", default="docs/serve_page.png", help="where to save the screenshot")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return fail(PROG, "no chromium found: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 820, "height": 560}, device_scale_factor=1)
        page.goto(args.url)
        page.fill("#text", args.text)
        page.click("#classify")
        page.wait_for_selector("#result:not([hidden])", timeout=60_000)
        page.screenshot(path=args.out, full_page=True)
        print(f"{page.text_content('#verdict')}: wrote {args.out}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
