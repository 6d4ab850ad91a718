"""Building the tools: flags, missing toolchain, one build at a time, atomic publication."""

from __future__ import annotations

import tarfile
import threading
import time
from pathlib import Path

import pytest

from pocketbench.backends.llamacpp import build, worktree
from pocketbench.core.api.errors import SetupError
from pocketbench.core.kit.cache import publish


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("POCKETBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_flags_are_portable_and_never_native() -> None:
    flags = build.build_flags()
    assert "-DGGML_NATIVE=OFF" in flags
    assert "-DLLAMA_USE_PREBUILT_UI=OFF" in flags and "-DLLAMA_BUILD_UI=OFF" in flags
    assert "-DLLAMA_OPENSSL=OFF" in flags and "-DBUILD_SHARED_LIBS=OFF" in flags
    assert not any("AMX" in f or "AVX512" in f for f in flags)
    assert f"-DLLAMA_BUILD_COMMIT={build.LLAMACPP_COMMIT}" in flags


def test_cache_key_follows_the_flags() -> None:
    key = build.build_key()
    assert key.startswith(build.LCP_VERSION + "-") and key == build.build_key()
    assert build.build_key(build.build_flags() + ("-DGGML_AVX512=ON",)) != key


def test_missing_toolchain_names_the_debian_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    with pytest.raises(SetupError, match="apt-get install cmake g\\+\\+ ninja-build") as exc:
        build._check_toolchain()
    assert "--llamacpp-bin" in str(exc.value)


def _fake_build(calls: list[tuple[str, ...]], *, fail: bool = False, delay: float = 0.3):  # noqa: ANN202
    def fake(sdist: Path, dest: Path, tree: Path, log: Path, names: tuple[str, ...]) -> None:
        calls.append(tuple(names))
        time.sleep(delay)
        log.write_text("compiling...\nerror: boom\n")
        if fail:
            raise SetupError(f"llama.cpp build failed while compiling (exit 1); see {log}")
        (dest / "bin").mkdir(parents=True, exist_ok=True)
        for t in worktree.missing(dest, names):
            tmp = dest / "bin" / f".{t}.tmp"
            tmp.write_text("#!/bin/sh\n")
            publish(tmp, dest / "bin" / t)

    return fake


def test_two_builders_build_once(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(build, "_check_toolchain", lambda: None)
    monkeypatch.setattr(build, "source_archive", lambda: cache / "sdist.tar.gz")
    monkeypatch.setattr(build, "_build", _fake_build(calls))
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(build.ensure_built(build.RUN_TARGETS)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [build.RUN_TARGETS]
    assert results[0] == results[1] == cache / "llamacpp" / build.build_key() / "bin"
    assert build.ensure_built(build.RUN_TARGETS) == results[0]
    assert calls == [build.RUN_TARGETS]  # cached from now on
    # A later job that needs another tool builds just that one, in the same entry.
    assert build.ensure_built(("llama-completion", "llama-bench")) == results[0]
    assert calls == [build.RUN_TARGETS, ("llama-completion", "llama-bench")]
    assert build.built_bin_dir() is None  # llama-perplexity is still to build
    assert build.built_bin_dir(("llama-bench", "llama-quantize")) == results[0]


def test_a_tool_the_backend_does_not_build_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="llama-server"):
        build.ensure_built(("llama-completion", "llama-server"))


def test_failed_build_leaves_nothing_half_done(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(build, "_check_toolchain", lambda: None)
    monkeypatch.setattr(build, "source_archive", lambda: cache / "sdist.tar.gz")
    monkeypatch.setattr(build, "_build", _fake_build(calls, fail=True, delay=0))
    with pytest.raises(SetupError, match=r"see .*\.build\.log") as exc:
        build.ensure_built()
    log = Path(str(exc.value).rsplit("see ", 1)[1])
    assert "error: boom" in log.read_text()
    root = cache / "llamacpp"
    assert not (root / build.build_key()).exists()
    assert [p for p in root.iterdir() if p.is_dir()] == []  # no temporary build folder left
    assert build.built_bin_dir() is None


def test_sdist_with_a_wrong_hash_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / build.SDIST_NAME
    bad.write_bytes(b"not the release")
    monkeypatch.setenv("POCKETBENCH_LLAMACPP_SDIST", str(bad))
    with pytest.raises(SetupError, match="is not the pinned llama-cpp-python"):
        build.source_archive()


@pytest.mark.slow
def test_the_log_flush_fix_applies_to_the_pinned_source(tmp_path: Path) -> None:
    sdist = build.source_archive()
    member = build.SDIST_TREE + build._PATCH_FILE
    with tarfile.open(sdist) as tar:
        f = tar.extractfile(member)
        assert f is not None
        source = f.read().decode()
    tree = tmp_path / "tree"
    target = tree / build._PATCH_FILE
    target.parent.mkdir(parents=True)
    target.write_text(source)
    fix = "common_log_pause(common_log_main());"
    build._patch(tree)
    assert target.read_text().count(fix) == source.count(fix) + 1
    build._patch(tree)  # idempotent
    assert target.read_text().count(fix) == source.count(fix) + 1
    target.write_text(source.replace("common_perf_print(ctx, smpl);", "other();"))
    with pytest.raises(SetupError, match="not the pinned one"):
        build._patch(tree)
