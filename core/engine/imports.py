"""``bench import``: read the files, and ask the backends what they hold.

The core knows no file format.  It refuses files too large to read (by
size, before reading), hashes and decodes the bytes, and asks each backend,
in a plugin manager of its own, whether the file is one of its formats
(``pocketbench_import``); :mod:`pocketbench.core.results.imports` stores the
answers, all files or none.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pocketbench.core.api.errors import UsageError
from pocketbench.core.api.imported import ImportedResults, ImportFormatError
from pocketbench.core.results.imports import (
    Outcome,
    ReadFile,
    WorkloadHints,
    read_bytes,
    store_files,
)

if TYPE_CHECKING:
    from pocketbench.core.engine.plugins import Registry
    from pocketbench.core.results.store import Store


def recognise(
    registry: Registry, path: str, text: str, warn: Callable[[str], None]
) -> tuple[str, ImportedResults]:
    """(backend name, results) of the first backend that knows the file's format."""
    from pocketbench.core.engine.plugins import BACKENDS, new_manager

    formats: list[str] = []
    for name in registry.backend_names():
        try:
            plugin = registry.load(BACKENDS, name)
        except UsageError as exc:
            warn(str(exc))
            continue
        pm = new_manager()
        pm.register(plugin, name=f"backend:{name}")
        try:
            info = pm.hook.pocketbench_backend_info()
            formats.extend(getattr(info, "imports", ()) or ())
        except Exception:  # a broken description must not stop an import
            pass
        try:
            found = pm.hook.pocketbench_import(path=path, text=text)
        except ImportFormatError as exc:
            raise UsageError(f"{path}:{exc.line or 1}: {exc.reason}") from None
        except UsageError:
            raise
        except Exception as exc:  # foreign code: a bug there is a warning, not a crash
            warn(f"backend {name!r} failed reading {path}: {type(exc).__name__}: {exc}")
            continue
        finally:
            pm.unregister(plugin)
        if found is not None:
            if not isinstance(found, ImportedResults) or not found.configs:
                raise UsageError(f"{path}:1: backend {name!r} recognised it but found no results")
            return name, found
    listed = "; ".join(formats) if formats else "no backend reads files"
    raise UsageError(f"{path}:1: unknown format (bench import reads: {listed})")


def read_files(
    registry: Registry, paths: Sequence[str], warn: Callable[[str], None]
) -> list[ReadFile]:
    """Every file read and recognised; the first bad one stops everything."""
    out: list[ReadFile] = []
    seen: set[str] = set()
    for path in paths:
        data, size = read_bytes(path)
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        text = decode(data, path)
        backend, results = recognise(registry, path, text, warn)
        out.append(
            ReadFile(
                path=path, sha256=digest, size=size, text=text, backend=backend, results=results
            )
        )
    return out


#: Byte-order marks of the encodings an editor or PowerShell saves logs in.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode(data: bytes, path: str) -> str:
    """The file's text: UTF-8, or the UTF-16/32 its byte-order mark names.

    Without a mark, NUL bytes between the characters are UTF-16 that lost
    it: refused with the encoding named, never read as mojibake.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise UsageError(
                    f"{path}: starts as {encoding.upper()} but is not ({exc.reason} at byte"
                    f" {exc.start + len(bom)}); convert it to UTF-8"
                ) from None
    head = data[:4096]
    if head and head.count(0) * 4 >= len(head):
        raise UsageError(
            f"{path}: looks like UTF-16 without a byte-order mark (NUL bytes between"
            " characters); convert it to UTF-8 (iconv -f UTF-16LE -t UTF-8) and import that"
        )
    return data.decode("utf-8", errors="replace")


def import_files(
    store: Store,
    registry: Registry,
    paths: Sequence[str],
    *,
    campaign: str | None = None,
    device_label: str | None = None,
    hints: WorkloadHints | None = None,
    command: str | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> list[Outcome]:
    """Read, check and store ``paths``; all of them or nothing.

    :raises UsageError: one line ``FILE:LINE: what is wrong``; nothing stored.
    """
    files = read_files(registry, paths, warn)
    return store_files(
        store, files, campaign=campaign, device_label=device_label, hints=hints, command=command
    )
