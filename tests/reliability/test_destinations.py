"""Outputs named by the user are never replaced unless they are regular files.

Device nodes are made with mknod in the test's own folder (the real /dev is
never touched); making them needs root, as replacing /dev/full did.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from pocketbench.testing.cli import run_bench
from pocketbench.testing.faults import one_error_line

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")


def _node(path: Path, major: int, minor: int) -> Path:
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
    return path


def _report(store_path: Path, out: Path | str) -> object:
    return run_bench("report", "--db", str(store_path), "-o", str(out), cwd=store_path.parent)


@needs_root
def test_report_to_a_full_device_keeps_the_device_and_says_so(store_path, tmp_path) -> None:
    full = _node(tmp_path / "full", 1, 7)
    r = _report(store_path, full)
    assert r.returncode == 2
    assert "No space left" in one_error_line(r.stderr)
    assert stat.S_ISCHR(os.lstat(full).st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".full")] == []


@needs_root
def test_report_to_a_null_device_writes_through_it(store_path, tmp_path) -> None:
    null = _node(tmp_path / "null", 1, 3)
    r = _report(store_path, null)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode)


def test_report_to_a_copy_of_dev_stdout_reaches_standard_output(store_path, tmp_path) -> None:
    # A copy of /dev/stdout's link: code that replaces it must not touch the real one.
    stdout = tmp_path / "stdout"
    stdout.symlink_to("/proc/self/fd/1")
    r = _report(store_path, stdout)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("#") and "tokens/s" in r.stdout
    assert stdout.is_symlink() and os.readlink(stdout) == "/proc/self/fd/1"


def test_report_to_a_fifo_with_a_reader_is_read_by_it(store_path, tmp_path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reading = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    # A writer of our own keeps the reader from seeing the end before bench writes.
    keep = os.open(fifo, os.O_WRONLY)
    os.set_blocking(reading, True)

    def read() -> None:
        with os.fdopen(reading, "rb") as f:
            got.append(f.read())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        r = _report(store_path, fifo)
    finally:
        os.close(keep)
        reader.join(60)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got[0].startswith(b"#")


def test_report_to_a_fifo_nobody_reads_is_refused_at_once(store_path, tmp_path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = _report(store_path, fifo)
    assert r.returncode == 2
    assert "no process reads the FIFO" in one_error_line(r.stderr)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_report_to_a_socket_is_refused(store_path, tmp_path) -> None:
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        r = _report(store_path, path)
    assert r.returncode == 2
    assert "is a socket" in one_error_line(r.stderr)
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_report_through_a_symlink_replaces_the_target_and_keeps_the_link(
    store_path, tmp_path
) -> None:
    target = tmp_path / "real" / "report.md"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "link.md"
    link.symlink_to(Path("real") / "report.md")
    r = _report(store_path, link)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "report.md")
    assert target.read_text().startswith("#")


@needs_root
def test_merge_into_a_device_is_refused_and_the_device_kept(store_path, tmp_path) -> None:
    null = _node(tmp_path / "null", 1, 3)
    r = run_bench("merge", str(null), str(store_path), cwd=tmp_path)
    assert r.returncode == 2
    assert "not a regular file" in one_error_line(r.stderr)
    assert stat.S_ISCHR(os.lstat(null).st_mode)


def test_merge_through_a_symlink_writes_the_target(store_path, tmp_path) -> None:
    (tmp_path / "stores").mkdir()
    link = tmp_path / "merged.db"
    link.symlink_to(tmp_path / "stores" / "merged.db")
    r = run_bench("merge", str(link), str(store_path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and (tmp_path / "stores" / "merged.db").stat().st_size > 0
