"""Compiling LaTeX output for real in tests (reporter plugins' tests too)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def compile_latex(tex: str, workdir: Path) -> Path:
    """Compile ``tex`` with the real pdflatex (no shell escape); fail with the log's error lines.

    Skips the calling test, with the Debian packages to install, when pdflatex is missing.
    """
    if shutil.which("pdflatex") is None:
        pytest.skip(
            "pdflatex is not installed (Debian: texlive-latex-base texlive-latex-recommended lmodern)"
        )
    src = workdir / "doc.tex"
    src.write_text(tex, encoding="utf-8")
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", src.name],
        cwd=workdir,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
    )
    errors = [line for line in proc.stdout.splitlines() if line.startswith("!")]
    assert proc.returncode == 0, f"pdflatex failed: {errors or proc.stdout[-2000:]}"
    pdf = workdir / "doc.pdf"
    assert pdf.stat().st_size > 1000
    return pdf
