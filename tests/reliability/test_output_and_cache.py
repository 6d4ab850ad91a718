"""Standard output that cannot be written, and cache files damaged the way full disks damage them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pocketbench.testing.cli import BIN, bench_env
from pocketbench.testing.faults import one_error_line


def _report(store_path: Path, **popen) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "bench"), "report", "--db", str(store_path)],
        cwd=store_path.parent,
        env=bench_env(),
        text=True,
        timeout=300,
        **popen,
    )


def test_report_to_a_full_device_is_an_error_not_a_silent_success(store_path) -> None:
    with open("/dev/full", "w") as full:
        r = _report(store_path, stdout=full, stderr=subprocess.PIPE)
    assert r.returncode == 7
    line = one_error_line(r.stderr)
    assert "standard output could not be written" in line and "No space left" in line


def test_report_to_a_closed_stdout_is_an_error(store_path) -> None:
    r = subprocess.run(
        ["sh", "-c", f'exec "{BIN / "bench"}" report --db "{store_path}" >&-'],
        env=bench_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 7
    assert "standard output is closed" in one_error_line(r.stderr)


def test_report_to_a_closed_pipe_is_an_error(store_path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before bench writes a byte
    try:
        r = _report(store_path, stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert r.returncode == 7
    assert "Broken pipe" in one_error_line(r.stderr)


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test only: damaging files in the shared one would hurt others."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("POCKETBENCH_CACHE", str(cache))
    return cache


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "record"])
def test_damaged_cached_artefact_is_rebuilt_with_a_note(own_cache, capsys, damage) -> None:
    from pocketbench.backends.llamacpp import gguf_synth
    from pocketbench.core.api.presets import get_preset

    spec = get_preset("tiny")
    path = gguf_synth.ensure_preset(spec)
    good = path.read_bytes()
    capsys.readouterr()
    if damage == "empty":
        path.write_bytes(b"")  # what a full disk leaves
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        path.write_bytes(bytes(len(good)))  # same size, other content
        os.utime(path, ns=(1, 1))
    else:
        path.with_name(path.name + ".record").write_text("not a record")
    again = gguf_synth.ensure_preset(spec)
    assert again == path and path.read_bytes() == good
    err = capsys.readouterr().err
    assert f"note: cached {path} is damaged" in err and f"rm {path}" in err


def test_damaged_digest_memos_are_recomputed(own_cache) -> None:
    from pocketbench.core.devices.adbsync import DigestMemo
    from pocketbench.core.kit.cache import cache_dir, file_digest

    model = own_cache.parent / "m.bin"
    model.write_bytes(b"weights" * 1000)
    right = file_digest(model)
    for memo in (cache_dir("digests")).iterdir():
        memo.write_text("")  # truncated to nothing
    assert file_digest(model) == right
    memos = DigestMemo()
    key = DigestMemo.key("serial", "/data/m.bin", 7000, 1)
    memos.put(key, ("sha256", right))
    for damaged in ("", "sha256", "sha256 xyz", "md5 " + "0" * 64, "crc 1234"):
        for memo in cache_dir("adb-digests").iterdir():
            memo.write_text(damaged)
        assert DigestMemo().get(key) is None, damaged
