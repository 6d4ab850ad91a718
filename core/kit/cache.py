"""The cache of built runtimes and prepared models, and how every file is written.

Every cached artefact (tool build, preset model, quantized model, prompt,
export folder) is made under a lock, written to a temporary name in its
final directory and published with one atomic rename, so concurrent
``bench`` processes never see or produce half-written files.  Its size and
sha256 (a folder's: every file's) are recorded beside it and checked when it
is read back (:func:`cached`, :func:`cached_dir`).  Reports and other outputs use the same
:func:`write_atomic`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pocketbench.core.api.errors import SetupError
from pocketbench.core.kit.status import say

SHA256 = re.compile(r"[0-9a-f]{64}")


def cache_dir(*parts: str) -> Path:
    """``$POCKETBENCH_CACHE``, else ``$XDG_CACHE_HOME/pocketbench``, else ``~/.cache/pocketbench``.

    Heavy builds (llama.cpp tools, exported models) live here so that tests
    and repeated benchmarks reuse them instead of rebuilding.
    """
    root = os.environ.get("POCKETBENCH_CACHE")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "pocketbench"
    return writable_dir(base.joinpath(*parts), "POCKETBENCH_CACHE" if root else "the cache")


def writable_dir(path: Path, what: str) -> Path:
    """``path`` made if missing; :class:`SetupError` in one line when it cannot hold files.

    ``what`` names the setting the user changes (``POCKETBENCH_CACHE``).
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SetupError(
            f"{what}: cannot make the folder {path} ({exc.strerror or exc}); point it at a"
            " writable folder"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise SetupError(
            f"{what}: the folder {path} is not writable; point it at a writable folder"
        )
    return path


def file_digest(path: Path, *, chunk: int = 1 << 20) -> str:
    """sha256 of a file, memoised in the cache by (path, size, mtime) so big models hash once.

    A memo that is not a whole sha256 (a full disk leaves an empty file) is
    ignored and rewritten: a wrong digest would let one model pass for another.
    """
    path = Path(path).resolve()
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    memo = cache_dir("digests") / hashlib.sha256(key.encode()).hexdigest()
    try:
        recorded = memo.read_text().strip()
    except (OSError, UnicodeDecodeError):
        recorded = ""
    if SHA256.fullmatch(recorded):
        return recorded
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    digest = h.hexdigest()
    with contextlib.suppress(OSError):  # a memo is an optimisation; the digest is right
        write_atomic(memo, (digest + "\n").encode())
    return digest


@contextlib.contextmanager
def file_lock(path: Path, waiting: str | None = None) -> Iterator[None]:
    """Hold an exclusive advisory lock on the file ``path`` (released by the OS if we die).

    The lock file is created at exactly ``path``: lock a name of its own
    beside the artefact (``final.with_name(final.name + ".lock")``), never
    the artefact's own path, which :func:`publish_dir` must be free to create.

    When another process holds it and ``waiting`` is given, say so first
    ("waiting for another process: ``waiting``"), so a wait never looks like a hang.
    """
    with open(path, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                say(f"waiting for another process: {waiting}")
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def temp_beside(path: Path) -> Iterator[Path]:
    """An empty temporary file next to ``path`` (a context manager yielding its path).

    Write it, then :func:`publish` it (or ``os.replace`` it) to ``path``; removed
    unless it was renamed away.
    """
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def temp_dir_beside(path: Path) -> Iterator[Path]:
    """An empty temporary folder next to ``path``, to fill and :func:`publish_dir` as ``path``.

    Removed with what it holds unless it was renamed away (published).
    """
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
    finally:
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def _record(path: Path) -> Path:
    return path.with_name(path.name + ".record")


def publish(tmp: Path, final: Path) -> None:
    """Rename a finished artefact into place, recording its size and sha256 beside it.

    :func:`cached` checks the record before the artefact is used again, so a
    copy damaged later (a full disk, a crash of the file system) is rebuilt,
    never measured.
    """
    os.replace(tmp, final)
    size = final.stat().st_size
    write_atomic(_record(final), f"{size} {file_digest(final)}\n".encode())


def write_checked(path: Path, data: bytes) -> None:
    """:func:`write_atomic` plus the record :func:`cached` checks (small artefacts: prompts)."""
    with temp_beside(path) as tmp:
        tmp.write_bytes(data)  # the rename below publishes it whole or not at all
        publish(tmp, path)


def cached(path: Path) -> bool:
    """True when ``path`` exists and matches its recorded size and digest.

    A damaged artefact is removed with a one-line note naming it, so the
    caller rebuilds it.  One published before records existed is trusted
    once and recorded.
    """
    if not path.is_file():
        return False
    record = _record(path)
    try:
        text = record.read_text(encoding="ascii").split()
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            write_atomic(record, f"{path.stat().st_size} {file_digest(path)}\n".encode())
        return True
    except (OSError, UnicodeDecodeError):
        text = []
    why = ""
    if len(text) != 2 or not text[0].isdigit() or not SHA256.fullmatch(text[1]):
        why = "its record is damaged"
    elif int(text[0]) != path.stat().st_size:
        why = f"it has {path.stat().st_size} bytes, {text[0]} were written"
    elif file_digest(path) != text[1]:
        why = "its content differs from what was written"
    if not why:
        return True
    say(f"note: cached {path} is damaged ({why}); rebuilding it (rm {path} clears it by hand)")
    path.unlink(missing_ok=True)
    record.unlink(missing_ok=True)
    return False


def _dir_record(folder: Path) -> str:
    """One line per file of ``folder``: size, sha256 and the path inside it, sorted."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(folder).as_posix()
        lines.append(f"{path.stat().st_size} {file_digest(path)} {rel}\n")
    return "".join(lines)


def publish_dir(tmp: Path, final: Path) -> None:
    """Rename a finished folder into place and record each file's size and sha256 beside it.

    :func:`cached_dir` checks the record before the folder is used again (an
    export, a converted model, a build of tools): a file truncated, emptied,
    overwritten or missing later makes the folder rebuilt, never used.
    Another process may have published the same folder first: then ours is
    dropped and theirs kept.
    """
    try:
        os.rename(tmp, final)
    except OSError:
        if not final.is_dir():
            raise
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        return
    write_atomic(_record(final), _dir_record(final).encode())


def _damaged_dir(folder: Path, text: str) -> str:
    """Why ``folder`` no longer matches its record ``text`` ("" when it does)."""
    lines = text.splitlines()
    if not lines:
        return "its record is damaged"
    for line in lines:
        parts = line.split(" ", 2)
        if (
            len(parts) != 3
            or not parts[0].isdigit()
            or not SHA256.fullmatch(parts[1])
            or not parts[2]
            or parts[2].startswith("/")
            or ".." in parts[2].split("/")
        ):
            return "its record is damaged"
        size, digest, rel = int(parts[0]), parts[1], parts[2]
        path = folder / rel
        try:
            st = path.stat()
        except OSError:
            return f"{rel} is missing"
        if st.st_size != size:
            return f"{rel} has {st.st_size} bytes, {size} were written"
        if file_digest(path) != digest:
            return f"the content of {rel} differs from what was written"
    return ""


def cached_dir(folder: Path, required: tuple[str, ...] = ()) -> bool:
    """True when ``folder`` exists with its ``required`` files and matches its record.

    A damaged folder is removed with a one-line note naming it and why, so
    the caller rebuilds it.  One published before records existed is
    trusted once (when its ``required`` files are there) and recorded.
    """
    if not folder.is_dir():
        return False
    record = _record(folder)
    try:
        text = record.read_text(encoding="ascii")
    except FileNotFoundError:
        text = None
    except (OSError, UnicodeDecodeError):
        text = ""
    missing = next((r for r in required if not (folder / r).is_file()), None)
    if missing is not None:
        why = f"{missing} is missing"
    elif text is None:
        with contextlib.suppress(OSError):
            write_atomic(record, _dir_record(folder).encode())
        return True
    else:
        why = _damaged_dir(folder, text)
    if not why:
        return True
    import shutil

    say(
        f"note: cached {folder} is damaged ({why}); rebuilding it "
        f"(rm -r {folder} clears it by hand)"
    )
    shutil.rmtree(folder, ignore_errors=True)
    record.unlink(missing_ok=True)
    return False


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one.

    Only a regular file is replaced (a symlink's target, the link kept); a
    device, FIFO or descriptor link is written through and anything else
    refused (:mod:`pocketbench.core.kit.destination`).
    """
    from pocketbench.core.kit.destination import destination, write_through

    where = destination(path)
    if where.through:
        write_through(where.path, data)
        return
    path = where.path
    with temp_beside(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
