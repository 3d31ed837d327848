"""Screenshot an archived exec view with headless Chromium, to look at it without a browser.

Installs nothing. On Debian/Ubuntu, Chromium comes from::

    apt-get update && apt-get install -y chromium

Usage::

    python scripts/screenshot_exec_html.py reports/2026Q3/html/03_exec_dashboard.html
    python scripts/screenshot_exec_html.py reports/2026Q3/html/03_exec_dashboard.html --out shot.png

Chromium runs with networking features off and a throw-away profile, so the
screenshot also shows whether the page renders offline (every figure and
style is embedded in the HTML).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """The first Chromium-like browser on PATH."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(html: Path, png: Path, browser: str, width: int = 1400, height: int = 2200,
               timeout: float = 120) -> Path:
    """Render ``html`` headless and write a PNG of the first ``width`` x ``height`` pixels."""
    with tempfile.TemporaryDirectory(prefix="pk-chromium-") as profile:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                   "--no-first-run", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                   f"--user-data-dir={profile}", f"--screenshot={png}",
                   f"--window-size={width},{height}", html.resolve().as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if not png.is_file():
        raise RuntimeError(f"{browser} wrote no screenshot (exit {done.returncode}):\n"
                           f"{done.stderr[-2000:]}")
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="an archived HTML page")
    parser.add_argument("--out", type=Path, help="PNG to write (default: next to the HTML)")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2200)
    args = parser.parse_args(argv)
    if not args.html.is_file():
        print(f"{args.html}: no such file", file=sys.stderr)
        return 2
    browser = find_browser()
    if browser is None:
        print("no Chromium found; install it with: apt-get update && apt-get install -y chromium",
              file=sys.stderr)
        return 2
    png = args.out or args.html.with_suffix(".png")
    screenshot(args.html, png, browser, args.width, args.height)
    print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
