"""Build llama.cpp's tools one target at a time, in a build tree kept in the cache.

A run needs llama-completion, llama-tokenize and llama-quantize; llama-bench
(``--crosscheck``) and llama-perplexity (``--quality``) only some jobs.
Building every tool before the first result cost a new user minutes, so a
cache entry (one per source, flags and toolchain) keeps its configured tree
(sources and objects) beside the published binaries: a later job that needs
another tool compiles just that tool's own files and links it against the
libraries already built.  Each binary is published on its own, its size and
sha256 recorded (``publish``) and checked when read back (``cached``), so a
damaged tool is rebuilt alone.  Once every tool of the entry is there the
tree, hundreds of MB, is deleted.  The tree also lets a build stopped by
Ctrl-C resume where ninja stopped (ninja rebuilds what it did not finish).

The caller holds the entry's file lock; nothing here is safe without it.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO

from pocketbench.plugin import (
    SetupError,
    Status,
    cached,
    child,
    publish,
    status,
    temp_beside,
)

_NINJA_PROGRESS = re.compile(r"^\[(\d+)/(\d+)\]")
#: Written once the source is whole in the tree (an unpack cut short is redone).
_UNPACKED = ".unpacked"
_BAR_WIDTH = 24


def missing(entry: Path, names: Sequence[str]) -> list[str]:
    """The tools of ``names`` not yet published (or damaged) in ``entry/bin``."""
    return [n for n in names if not cached(entry / "bin" / n)]


def build_targets(
    *,
    entry: Path,
    tree: Path,
    log: Path,
    names: Sequence[str],
    every: Sequence[str],
    unpack: Callable[[Path], Path],
    configure: Callable[[Path, Path], list[str]],
    label: str,
    env: dict[str, str] | None = None,
) -> list[str]:
    """Build the tools of ``names`` that ``entry/bin`` lacks and publish each one there.

    ``unpack(dest)`` puts the source in ``dest`` and returns its root;
    ``configure(src, out)`` returns the cmake configure command (run once per
    tree).  ``every`` is all the tools the entry can hold: when none is
    missing any more the tree is removed.  Returns the tools built.
    """
    todo = missing(entry, names)
    if not todo:
        return []
    src, out = tree / "src", tree / "build"
    with status(f"{label}...") as live, open(log, "a", encoding="utf-8") as logf:
        if not (tree / _UNPACKED).is_file():
            shutil.rmtree(tree, ignore_errors=True)
            live.update(f"{label}: unpacking source...")
            src = unpack(src)
            (tree / _UNPACKED).write_text(str(src) + "\n", encoding="utf-8")
        else:
            src = Path((tree / _UNPACKED).read_text(encoding="utf-8").strip())
        started = time.monotonic()
        if not (out / "build.ninja").is_file():
            try:
                _step(configure(src, out), logf, live, "configuring", log, label, started, env)
            except BaseException:
                # A failed configure (a broken compiler) has nothing worth resuming.
                shutil.rmtree(tree, ignore_errors=True)
                raise
        # ninja plans only what these targets need; its [n/m] is the progress bar.
        jobs = str(_jobs())
        cmd = ["cmake", "--build", str(out), "-j", jobs, "--target", *todo]
        _step(cmd, logf, live, f"compiling {', '.join(todo)}", log, label, started, env)
    (entry / "bin").mkdir(parents=True, exist_ok=True)
    for name in todo:
        built = out / "bin" / name
        if not built.is_file():
            raise SetupError(f"the llama.cpp build produced no {name}; see {log}")
        final = entry / "bin" / name
        with temp_beside(final) as tmp:
            shutil.copy2(built, tmp)
            publish(tmp, final)
    if not missing(entry, every):
        # Nothing is left to build from it: the sources and objects are all we drop.
        shutil.rmtree(tree, ignore_errors=True)
    return todo


def progress_text(label: str, what: str, done: int, total: int, elapsed_s: float) -> str:
    """The status line of a build step: a bar of ninja steps done out of total, and the time."""
    total = max(total, 1)
    filled = round(_BAR_WIDTH * min(done, total) / total)
    bar = "\u2588" * filled + "\u2591" * (_BAR_WIDTH - filled)
    minutes, seconds = divmod(int(elapsed_s), 60)
    return f"{label}: {what} {bar} {done}/{total} steps, {minutes}:{seconds:02d} elapsed"


def _jobs() -> int:
    import os

    return os.cpu_count() or 2


def known(names: Iterable[str], targets: Sequence[str], build: str) -> tuple[str, ...]:
    """``names`` without repeats, each one of ``build``'s ``targets``.

    An unknown name is a programming error, not a user's: the backend names its tools.
    """
    names = tuple(dict.fromkeys(names))
    unknown = [n for n in names if n not in targets]
    if unknown:
        raise ValueError(f"not a llama.cpp tool of {build}: {', '.join(unknown)}")
    return names


def _step(
    cmd: list[str],
    logf: IO[str],
    live: Status,
    what: str,
    log: Path,
    label: str,
    started: float,
    env: dict[str, str] | None,
) -> None:
    logf.write("$ " + shlex.join(cmd) + "\n")
    logf.flush()
    live.update(f"{label}: {what}...")
    stream(cmd, logf, live, what, log, label=label, env=env, started=started)


def stream(
    cmd: list[str],
    logf: IO[str],
    live: Status,
    what: str,
    log: Path,
    label: str,
    env: dict[str, str] | None = None,
    started: float | None = None,
) -> None:
    """Run ``cmd`` with its output into the log, showing ninja's [n/m] as a progress bar."""
    started = time.monotonic() if started is None else started
    # Its own process group, stopped whole with bench: ninja and the compilers too.
    begun = False
    try:
        with child(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            env=env,
        ) as proc:  # fmt: skip
            begun = True
            assert proc.stdout is not None
            for line in proc.stdout:
                logf.write(line)
                m = _NINJA_PROGRESS.match(line)
                if m:
                    elapsed = time.monotonic() - started
                    live.update(progress_text(label, what, int(m[1]), int(m[2]), elapsed))
            logf.flush()
            proc.wait()
    except OSError as exc:
        if begun:  # writing the log failed, not starting the tool
            raise
        raise SetupError(f"cannot run {cmd[0]}: {exc.strerror or exc}") from exc
    if proc.returncode != 0:
        raise SetupError(f"llama.cpp build failed while {what} (exit {proc.returncode}); see {log}")
