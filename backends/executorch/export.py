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
from collections.abc import Iterator, Sequence
from pathlib import Path

from pocketbench.plugin import SetupError, cache_dir, file_lock
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


def say(message: str) -> None:
    """A progress line for the user of ``bench``, through the one status channel."""
    plugin_say(f"executorch: {message}")


def heavy_lock(what: str) -> contextlib.AbstractContextManager[None]:
    """The cache-wide lock of heavy steps (a 1B fp32 export alone needs ~16 GiB)."""
    return file_lock(root() / "heavy.lock", waiting=f"another export, before {what}")


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


def _publish(tmp: Path, final: Path) -> None:
    """Rename a finished directory into place (another process may have won the race)."""
    try:
        os.rename(tmp, final)
    except OSError:
        if not final.exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


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
            proc = subprocess.run(
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
    ckpt = final / "consolidated.00.pth"
    if ckpt.is_file():
        return final
    with heavy_lock(f"writing the {label} checkpoint"):
        if ckpt.is_file():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
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
            _publish(tmp, final)
    return final


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

    The checkpoint is linked into the work directory under a neutral name and
    passed as a relative path: ``export_llama`` switches to other code paths
    when the checkpoint's path contains "int8" or "8da4w".
    """
    pte = final / "model.pte"
    if pte.is_file():
        return pte
    with heavy_lock(f"exporting {label}"):
        if pte.is_file():
            return pte
        final.parent.mkdir(parents=True, exist_ok=True)
        with _building(final) as tmp:
            (tmp / "params.json").write_text(json.dumps(params, indent=1) + "\n")
            link = tmp / "consolidated.00.pth"
            link.symlink_to(Path(checkpoint).resolve())
            argv = [
                sys.executable,
                "-m",
                EXPORT_MODULE,
                "--model",
                model_class,
                "-p",
                "params.json",
                "-c",
                link.name,
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
            memory = f", peak memory about {estimate_gib:.1f} GiB" if estimate_gib else ""
            say(f"exporting {label} with export_llama (one time{memory}; cached in {final})")
            run_logged(argv, cwd=tmp, log=tmp / "export.log", what=f"exporting {label}")
            if not (tmp / "model.pte").is_file():
                # export_llama logs a failed save and still exits 0.
                raise SetupError(
                    f"exporting {label} wrote no model.pte: "
                    f"{_last_error_line(tmp / 'export.log') or 'see the log'}; "
                    f"log: {_keep_log(tmp / 'export.log')}"
                )
            link.unlink()
            (tmp / "export.json").write_text(
                json.dumps({"argv": argv, "checkpoint": str(checkpoint), "label": label}, indent=1)
            )
            _publish(tmp, final)
    return pte
