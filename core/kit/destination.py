"""Where a file pocketbench writes really goes: replaced, written through, or refused.

:func:`pocketbench.core.kit.cache.write_atomic` renames a finished temporary
file over its path.  That is right for a regular file and wrong for
everything else a user can name: renaming over ``/dev/full`` as root replaces
the device node with a file, renaming over a symlink drops the link.  So the
path is looked at first:

- missing or a regular file: replaced atomically;
- a symlink: followed hop by hop; a regular target is replaced and the link
  kept; a link through ``/proc`` (``/dev/stdout``, ``/dev/fd/N``) names an
  open descriptor and is written through;
- a character device or a FIFO (``/dev/null``, a named pipe a reader holds
  open): written through, never replaced;
- a directory, block device or socket: refused with one line.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path

from attrs import frozen

#: More hops than this is a loop (the kernel's own limit is 40).
MAX_HOPS = 40


@frozen
class Destination:
    """The path to write and whether to write through it rather than replace it."""

    path: Path
    through: bool


def _refuse(path: Path, what: str) -> OSError:
    return OSError(
        errno.EINVAL,
        f"{path} is {what}; pocketbench replaces only regular files and writes through"
        " character devices and FIFOs: name a file",
    )


def destination(path: Path) -> Destination:
    """Where writing ``path`` lands (symlinks followed), or :class:`OSError` saying why not."""
    here = Path(path)
    for _ in range(MAX_HOPS):
        # The parent resolved, so '/dev/fd/1' shows itself as '/proc/<pid>/fd/1'.
        here = Path(os.path.realpath(here.parent)) / here.name
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            return Destination(here, through=False)
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            if here.parts[:2] == ("/", "proc"):
                # A descriptor's magic link (a pipe, a terminal, a shell's file).
                return Destination(here, through=True)
            here = here.parent / os.readlink(here)
            continue
        if stat.S_ISREG(mode):
            return Destination(here, through=False)
        if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
            return Destination(here, through=True)
        if stat.S_ISDIR(mode):
            raise _refuse(here, "a directory")
        if stat.S_ISBLK(mode):
            raise _refuse(here, "a block device")
        if stat.S_ISSOCK(mode):
            raise _refuse(here, "a socket")
        raise _refuse(here, "not a file")
    raise OSError(errno.ELOOP, f"{path}: too many symbolic links")


def write_through(path: Path, data: bytes) -> None:
    """Write ``data`` into an existing device, FIFO or open descriptor's path, never replacing it.

    A FIFO nobody reads is refused at once rather than waited on for ever.
    """
    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_APPEND | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OSError(
                errno.ENXIO, f"no process reads the FIFO {path}; start its reader first"
            ) from None
        raise
    try:
        # Blocking again: a reader that is slower than us is waited for, not an error.
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
