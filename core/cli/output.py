"""Standard output that cannot be written is an error, never a silent exit 0.

``bench report > /dev/full``, a closed pipe (``bench report | head -0``) or a
closed descriptor (``bench report >&-``) lose the output; ``bench`` then
ends with :attr:`ExitCode.OUTPUT` and, where stderr still works, one line
saying so.  What was measured and stored is not affected: the line says the
results are still in the store.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Callable

from pocketbench.core.api.errors import ExitCode

#: Errors that mean the output's destination cannot take it.
LOST = {errno.EPIPE, errno.ENOSPC, errno.EBADF, errno.EIO, errno.EDQUOT, errno.EFBIG}


def stdout_usable() -> bool:
    """False when standard output was closed before bench started."""
    if sys.stdout is None:
        return False
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):
        return True  # an in-memory stream (tests capturing output) has no descriptor
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _tell(message: str) -> None:
    with contextlib.suppress(Exception):
        if sys.stderr is not None:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()


def _silence_stdout() -> None:
    # The interpreter flushes stdout again at exit; point it at /dev/null so
    # that flush cannot print a traceback of its own.
    with contextlib.suppress(Exception):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


def lost(exc: OSError) -> int:
    _silence_stdout()
    cause = os.strerror(exc.errno) if exc.errno else str(exc)
    _tell(
        f"error: standard output could not be written ({cause}); nothing was lost from the"
        " store: write to a file with --output, or fix the pipe or disk, and run again"
    )
    return int(ExitCode.OUTPUT)


def run_checked(body: Callable[[], int]) -> int:
    """Run a command, then make sure its standard output was really written."""
    if not stdout_usable():
        _tell("error: standard output is closed; redirect it (> FILE or > /dev/null) and run again")
        return int(ExitCode.OUTPUT)
    try:
        code = body()
        sys.stdout.flush()
    except OSError as exc:
        if exc.errno not in LOST:
            raise
        return lost(exc)
    except SystemExit:
        # click answers a broken pipe with exit 1 after wrapping stdout.
        if "PacifyFlushWrapper" in type(sys.stdout).__name__:
            return lost(BrokenPipeError(errno.EPIPE, "Broken pipe"))
        raise
    return code
