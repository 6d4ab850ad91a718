"""Content-addressed, one-at-a-time work in the cache: checkpoints and .pte exports.

Heavy steps run in child processes (``synth`` and ExecuTorch's ``export_llama``)
so their memory returns to the system when they end and a crash or an OOM kill
is a return code, not a dead ``bench``.  Each result is built in a temporary
directory and renamed into place, so a half-written file is never found; one
file lock serialises heavy steps across processes, because a Llama-3.2-1B fp32
export alone peaks near 16.5 GiB.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from pocketbench.plugin import (
    Job,
    SetupError,
    cache_dir,
    cached_dir,
    file_lock,
    publish_dir,
    run_child,
    write_atomic,
)
from pocketbench.plugin import say as plugin_say

#: Bump when what this backend writes changes, so old cache entries are not reused.
FORMAT_VERSION = 1
EXPORT_MODULE = "executorch.examples.models.llama.export_llama"


def root() -> Path:
    return cache_dir("executorch")


def content_key(**parts: object) -> str:
    """A stable short hash of the inputs that decide a cached artefact."""
    blob = json.dumps({"format": FORMAT_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def model_class(job: Job) -> str:
    """The ``export_llama --model`` class (``-O et_model=...``; Llama 3.2's by default)."""
    return job.options.get("et_model", "llama3_2")


def max_seq_len(job: Job, default: int) -> int:
    """The exported context (``-O max_seq_len=...``, checked before any job runs) or ``default``."""
    raw = job.options.get("max_seq_len")
    return default if raw is None else int(raw)


def exported(
    *,
    name: str,
    scheme: str,
    source: str,
    checkpoint: Path,
    params: dict,
    flags: Sequence[str],
    model_class: str,
    seq: int,
    metadata: dict,
    vers: dict[str, str],
    label: str,
    estimate_gib: float | None = None,
) -> Path:
    """The cached .pte of one export: its key is made of exactly what ``export_llama`` gets.

    ``source`` names the checkpoint's content (a file's sha256, or a synthetic
    checkpoint's fingerprint and seed), never its path, so the same weights
    find the same export from any clone or cache location; the ExecuTorch
    and torch versions are part of the key because they change the program.
    """
    key = content_key(
        source=source,
        params=params,
        flags=flags,
        model_class=model_class,
        seq=seq,
        metadata=metadata,
        executorch=vers["executorch"],
        torch=vers["torch"],
    )
    return export_pte(
        root() / "models" / f"{name}-{scheme}-{key}",
        checkpoint=checkpoint,
        params=params,
        flags=flags,
        model_class=model_class,
        max_seq_len=seq,
        metadata=metadata,
        label=label,
        estimate_gib=estimate_gib,
    )


def say(message: str) -> None:
    """A progress line for the user of ``bench``, through the one status channel."""
    plugin_say(f"executorch: {message}")


#: A heavy step expected to peak at most this much memory is small: two run at once.
SMALL_STEP_GIB = 4.0
#: The two slots of heavy steps; a small step takes one, any other both.
_SLOTS = ("heavy.lock", "heavy-2.lock")


@contextlib.contextmanager
def heavy_lock(what: str, estimate_gib: float | None = None) -> Iterator[None]:
    """The cache-wide lock of heavy steps (a 1B fp32 export alone needs ~16 GiB).

    ``export_llama`` traces the model with ``torch.export`` in Python, on one
    core, for most of its time (docs/performance.md), so two small exports
    (``estimate_gib`` at most :data:`SMALL_STEP_GIB`: smollm2-135m, the test
    presets) run at once, one a core.  A step of unknown or larger size holds
    both slots and so runs alone.  Large steps wait on slot 1 then 2, small
    ones for slot 1 only when both are busy, so no two steps wait on each other.
    """
    waiting = f"another export, before {what}"
    if estimate_gib is None or estimate_gib > SMALL_STEP_GIB:
        with (
            file_lock(root() / _SLOTS[0], waiting=waiting),
            file_lock(root() / _SLOTS[1], waiting=waiting),
        ):
            yield
        return
    for name in _SLOTS:
        held = _try_lock(root() / name)
        if held is not None:
            try:
                yield
            finally:
                held.close()  # closing the file releases its lock
            return
    with file_lock(root() / _SLOTS[0], waiting=waiting):
        yield


@contextlib.contextmanager
def making(
    final: Path, ready: Callable[[], bool], what: str, estimate_gib: float | None = None
) -> Iterator[bool]:
    """The locks of making ``final``; yields False when another process made it meanwhile.

    The artefact's own lock comes first: a process that wants the same one
    waits for its maker and then finds it, without taking a heavy-step slot
    that another, different step could use.  Then a slot (:func:`heavy_lock`).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(final.with_name(final.name + ".lock"), waiting=what):
        if ready():
            yield False
            return
        with heavy_lock(what, estimate_gib):
            yield True


def _try_lock(path: Path) -> IO[str] | None:
    """``path`` locked exclusively without waiting (the open file holds it), or None."""
    import fcntl

    f = open(path, "a+")  # noqa: SIM115 - the caller closes it, which releases the lock
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


def _fresh_tmp(final: Path) -> Path:
    tmp = final.with_name(f"{final.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


@contextlib.contextmanager
def _building(final: Path) -> Iterator[Path]:
    """A fresh temporary directory beside ``final``, removed if the build fails."""
    tmp = _fresh_tmp(final)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {code}"


def _last_error_line(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        text = line.strip()
        if text and ("Error" in text or "error" in text) and not text.startswith("File "):
            return text[:240]
    return ""


def run_logged(argv: Sequence[str], *, cwd: Path, log: Path, what: str) -> None:
    """Run a heavy child with its output in ``log``; SetupError with one line if it fails."""
    start = time.monotonic()
    with open(log, "wb") as out:
        out.write(("$ " + " ".join(argv) + "\n").encode())
        out.flush()
        try:
            proc = run_child(
                list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            raise SetupError(f"{what}: cannot start {argv[0]}: {exc}") from exc
    if proc.returncode != 0:
        detail = _last_error_line(log)
        raise SetupError(
            f"{what} {_describe_exit(proc.returncode)}"
            + (f": {detail}" if detail else "")
            + f"; log: {_keep_log(log)}"
        )
    say(f"{what} done in {time.monotonic() - start:.0f} s")


#: Logs of failed steps kept in the cache (oldest removed first).
KEEP_FAILED_LOGS = 20


def _keep_log(log: Path) -> Path:
    """Copy a failed step's log out of its temporary directory so the path stays valid."""
    keep = root() / "failed" / f"{int(time.time())}-{os.getpid()}-{log.name}"
    keep.parent.mkdir(parents=True, exist_ok=True)
    for old in sorted(keep.parent.glob("*.log"))[: -KEEP_FAILED_LOGS + 1]:
        old.unlink(missing_ok=True)
    try:
        shutil.copyfile(log, keep)
    except OSError:
        return log
    return keep


def ensure_checkpoint(final: Path, params: dict, kind: str, *, label: str) -> Path:
    """A random checkpoint of ``kind`` for ``params`` in ``final`` (made once)."""
    # Checked against the sizes and digests recorded when it was published:
    # a damaged checkpoint is rebuilt, never exported.
    required = ("consolidated.00.pth", "params.json")
    if cached_dir(final, required):
        return final
    with making(
        final, lambda: cached_dir(final, required), f"writing the {label} checkpoint"
    ) as make:
        if not make:
            return final
        with _building(final) as tmp:
            (tmp / "params.json").write_text(json.dumps(params, indent=1) + "\n")
            say(f"writing a random {label} checkpoint (one time; cached in {final})")
            run_logged(
                [
                    sys.executable,
                    "-m",
                    "pocketbench.backends.executorch.synth",
                    "--params",
                    "params.json",
                    "--kind",
                    kind,
                    "--out",
                    "consolidated.00.pth",
                ],
                cwd=tmp,
                log=tmp / "synth.log",
                what=f"writing the {label} checkpoint",
            )
            publish_dir(tmp, final)
    return final


#: A .pte is a flatbuffer: a 4-byte root offset, then the file identifier ("ET12").
_PTE_IDENT = b"ET"
#: ExecuTorch's extended header after the identifier: sizes of the program and its segments.
_EXT_MAGIC = b"eh00"


def pte_problem(pte: Path) -> str | None:
    """Why ``pte`` is not a whole ExecuTorch program, or None; reads its first 64 bytes.

    The extended header records where the weight segments start and how long
    they are, so a file cut short (a full disk, a killed copy) is caught
    without loading it.
    """
    try:
        with open(pte, "rb") as f:
            head = f.read(64)
        size = pte.stat().st_size
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if len(head) < 8 or head[4:6] != _PTE_IDENT:
        return "is not an ExecuTorch program (no ET file identifier)"
    if head[8:12] == _EXT_MAGIC and len(head) >= 40:
        length = int.from_bytes(head[12:16], "little")
        program = int.from_bytes(head[16:24], "little")
        base = int.from_bytes(head[24:32], "little")
        data = int.from_bytes(head[32:40], "little") if length >= 32 else 0
        need = base + data if base else program
        if size < need:
            return f"is cut short ({size} of {need} bytes)"
    return None


def cached_whole(
    final: Path, required: tuple[str, ...], problem_of: Callable[[Path], str | None], redo: str
) -> bool:
    """True when ``final`` matches its record and ``problem_of`` finds it whole.

    The recorded digests catch damage after publishing; a folder published
    before records existed is trusted once by them, so it is also checked to
    be whole.  A damaged one is removed with one note ending in ``redo``.
    """
    if not cached_dir(final, required):
        return False
    problem = problem_of(final)
    if problem is None:
        return True
    say(f"note: cached {final} is damaged ({problem}); {redo} (rm -r {final} clears it by hand)")
    shutil.rmtree(final, ignore_errors=True)
    return False


def _pte_in(final: Path) -> str | None:
    problem = pte_problem(final / "model.pte")
    return f"model.pte {problem}" if problem else None


def _cached_export(final: Path) -> bool:
    """True when ``final`` holds a usable export (see :func:`export_pte`)."""
    return cached_whole(final, ("model.pte",), _pte_in, "exporting it again")


def export_pte(
    final: Path,
    *,
    checkpoint: Path,
    params: dict,
    flags: Sequence[str],
    model_class: str,
    max_seq_len: int,
    metadata: dict,
    label: str,
    estimate_gib: float | None = None,
) -> Path:
    """``final/model.pte`` exported by ``export_llama`` (once; later calls find it).

    A cached export is used only when its files match the sizes and digests
    recorded when it was published (:func:`cached_dir`); a new export must be a
    whole program (:func:`pte_problem`) before it is published.
    The checkpoint is linked into the work directory under a neutral name and
    passed as a relative path: ``export_llama`` switches to other code paths
    when the checkpoint's path contains "int8" or "8da4w".
    """
    pte = final / "model.pte"
    link_name = "consolidated.00.pth"
    argv = [
        sys.executable,
        "-m",
        EXPORT_MODULE,
        "--model",
        model_class,
        "-p",
        "params.json",
        "-c",
        link_name,
        *flags,
        "--max_seq_length",
        str(max_seq_len),
        "--max_context_length",
        str(max_seq_len),
        "-m",
        json.dumps(metadata, separators=(",", ":")),
        "-o",
        ".",
        "-n",
        "model",
    ]
    if _cached_export(final):
        return pte
    # One process exports a given program; two different small ones may overlap.
    ready = lambda: _cached_export(final)  # noqa: E731
    with making(final, ready, f"exporting {label}", estimate_gib) as make:
        if not make:
            return pte
        with _building(final) as tmp:
            write_atomic(tmp / "params.json", (json.dumps(params, indent=1) + "\n").encode())
            link = tmp / link_name
            link.symlink_to(Path(checkpoint).resolve())
            memory = f", peak memory about {estimate_gib:.1f} GiB" if estimate_gib else ""
            say(f"exporting {label} with export_llama (one time{memory}; cached in {final})")
            run_logged(argv, cwd=tmp, log=tmp / "export.log", what=f"exporting {label}")
            problem = pte_problem(tmp / "model.pte") if (tmp / "model.pte").is_file() else None
            if not (tmp / "model.pte").is_file() or problem:
                # export_llama logs a failed save and still exits 0.
                raise SetupError(
                    f"exporting {label} wrote "
                    + (f"a model.pte that {problem}" if problem else "no model.pte")
                    + f": {_last_error_line(tmp / 'export.log') or 'see the log'}; "
                    f"log: {_keep_log(tmp / 'export.log')}"
                )
            link.unlink()
            record = {"argv": argv, "checkpoint": str(checkpoint), "label": label}
            write_atomic(tmp / "export.json", json.dumps(record, indent=1).encode())
            publish_dir(tmp, final)
    return pte
