"""Type a text into a running server's page, classify it, and save a screenshot (for the docs).

Drives Debian's chromium through Playwright (browsers cannot be downloaded here).

Example:
  rnn-lightning serve --ckpt CKPT &
  rnn-lightning screenshot --url http://127.0.0.1:8000 --out docs/serve_page.png
"""

from __future__ import annotations

import shutil

from jsonargparse import ArgumentParser

from rnn_lightning.cli.parsing import Invocation, new_parser

REVIEW = ("A moving, beautifully acted film. The story drags a little in the middle, but the ending is wonderful "
          "and I loved every minute of it.")


def parser() -> ArgumentParser:
    parser = new_parser(__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running server")
    parser.add_argument("--text", default=REVIEW, help="what to type into the page")
    parser.add_argument("--out", default="docs/serve_page.png", help="where to save the screenshot")
    return parser


def run(invocation: Invocation) -> int:
    args = invocation.config
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return invocation.fail("no chromium found: apt-get install chromium")
    from playwright.sync_api import sync_playwright

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
