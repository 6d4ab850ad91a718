"""`pip install .` into an empty virtual environment gives a working bench."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv

import pytest


@pytest.mark.slow
def test_regular_install_in_an_empty_venv(repo, tmp_path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    # Install from a copy of the tracked files: the checkout gets no build/ folder,
    # and the install cannot lean on anything git does not hold.
    src = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True)
    for name in filter(None, tracked.stdout.decode().split("\0")):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, src / name)
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(src)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    out = subprocess.run(
        [str(env_dir / "bin" / "bench"), "plugins", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {b["name"] for b in data["backends"]} >= {"llamacpp", "executorch"}
    assert {r["name"] for r in data["reporters"]} >= {"markdown", "latex", "json", "csv", "html"}
    assert data["failed"] == []
    check = (
        "import importlib.resources as r, pocketbench.core, pocketbench\n"
        "t = r.files('pocketbench.reporters') / 'templates'\n"
        "print(sorted(p.name for p in t.iterdir() if p.name.endswith('.j2')))\n"
        "print(pocketbench.core.__file__)\n"
    )
    shown = subprocess.run(
        [str(py), "-c", check], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    templates, location = shown.stdout.splitlines()
    assert (
        "report.md.j2" in templates
        and "report.tex.j2" in templates
        and "findings.md.j2" in templates
    )
    assert str(repo) not in location and str(src) not in location
    assert "site-packages" in location
    assert sys.prefix != str(env_dir)
