"""Why a device refused to run a program that was pushed to it.

A phone answers ``Permission denied`` (exit 126) for two different reasons
that call for different remedies: the folder sits on a ``noexec`` mount (use
another folder), or SELinux denies the shell executing it (a vendor policy:
nothing in pocketbench can change that).  The shell's message names neither,
so the device is asked: the mount options of the folder, then ``getenforce``.
"""

from __future__ import annotations

import posixpath

from pocketbench.core.api.model import ProcessResult
from pocketbench.core.devices.base import Device

_TIMEOUT_S = 30.0


def refused_to_execute(result: ProcessResult) -> bool:
    """True when ``result`` is the shell saying it may not execute the program."""
    if result.timed_out:
        return False
    text = (result.stderr + "\n" + result.stdout).lower()
    return result.exit_code == 126 or (
        result.exit_code not in (0, None) and "permission denied" in text
    )


def explain_refusal(device: Device, path: str, result: ProcessResult) -> str | None:
    """One line saying why ``device`` would not execute ``path``; None when it did not refuse."""
    if not refused_to_execute(result):
        return None
    mounts = device.run(["cat", "/proc/mounts"], timeout=_TIMEOUT_S)
    point, options = mount_of(path, mounts.stdout if mounts.ok else "")
    if "noexec" in options:
        return (
            f"{device.name} refuses to execute {path}: {point} is mounted noexec, so no program "
            "can run from it; use a working directory under /data/local/tmp"
        )
    enforce = device.run(["getenforce"], timeout=_TIMEOUT_S)
    if enforce.ok and enforce.stdout.strip().lower() == "enforcing":
        return (
            f"{device.name} refuses to execute {path}: SELinux is enforcing and its policy denies "
            "the adb shell running programs there (the mount allows it); use a phone or build "
            "whose policy allows /data/local/tmp, or a rooted phone with `setenforce 0`"
        )
    last = (result.stderr.strip().splitlines() or ["permission denied"])[-1][:200]
    return f"{device.name} refuses to execute {path}: {last}"


def mount_of(path: str, proc_mounts: str) -> tuple[str, frozenset[str]]:
    """(mount point, its options) of the longest mount prefix of ``path`` in /proc/mounts text."""
    best, best_opts = "/", frozenset[str]()
    found = -1
    norm = posixpath.normpath(path)
    for line in proc_mounts.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        point = fields[1].replace("\\040", " ")
        inside = norm == point or norm.startswith(point.rstrip("/") + "/")
        if inside and len(point) > found:
            best, best_opts, found = point, frozenset(fields[3].split(",")), len(point)
    return best, best_opts
