"""Open a rendered report in headless Chromium and check it the way a person would see it.

Uses Playwright with the system Chromium (Debian's ``chromium`` package), never a downloaded
browser. ``check_page`` returns what loaded and what the console said, and saves a screenshot.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import MissingDependencyError

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
# flags that keep Chromium quiet on a machine with no network (see the env notes)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class PageCheck:
    """Outcome of opening a page: images found/loaded, console errors, visible error messages."""

    n_images: int
    n_loaded: int
    console_errors: list[str] = field(default_factory=list)
    error_messages: list[str] = field(default_factory=list)
    screenshot: str | None = None


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    for c in CHROMIUM_CANDIDATES:
        if Path(c).exists():
            return c
    return shutil.which("chromium")


def check_page(html_path: str | Path, screenshot: str | Path | None = None, *, width: int = 1200) -> PageCheck:
    """Load ``html_path`` in headless Chromium; count loaded images and console errors.

    Raises
    ------
    MissingDependencyError
        Chromium or Playwright is not installed.
    """
    exe = find_chromium()
    if exe is None:
        raise MissingDependencyError("headless checks need Chromium: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise MissingDependencyError("headless checks need Playwright: pip install playwright") from exc
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(Path(html_path).resolve().as_uri())
            page.wait_for_load_state("load")
            imgs = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
            msgs = page.evaluate("Array.from(document.querySelectorAll('.error')).map(e => e.textContent)")
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return PageCheck(len(imgs), sum(bool(i) for i in imgs), errors, msgs,
                     str(screenshot) if screenshot else None)
