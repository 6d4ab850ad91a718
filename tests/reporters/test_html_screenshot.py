"""The HTML report opened in a real headless Chromium and screenshotted.

Set POCKETBENCH_SCREENSHOT_DIR to keep the screenshot for a look.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pocketbench.core.engine.plugins import Registry
from pocketbench.core.results.build import build_report
from pocketbench.core.results.report import ReportOptions
from pocketbench.core.results.store import Store
from pocketbench.testing.fabricated import NASTY

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (Debian: chromium)"
)
def test_html_report_in_headless_chromium(
    registry: Registry, store_path: Path, tmp_path: Path
) -> None:
    with Store.open(store_path, create=False) as store:
        rep = build_report(store, "new", title=NASTY)
    page = tmp_path / "report.html"
    page.write_text(registry.render("html", rep, ReportOptions()), encoding="utf-8")
    shot = tmp_path / "report.png"
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,2400",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.exists() and shot.stat().st_size > 50_000, dom.stderr.decode(errors="replace")[
        -2000:
    ]
    # The user's <script> is text on the page, not a script that ran or vanished.
    text = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile2'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
        text=True,
        errors="replace",
    ).stdout
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>alert(1)</script>" not in text
    keep = os.environ.get("POCKETBENCH_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / "report.png")
