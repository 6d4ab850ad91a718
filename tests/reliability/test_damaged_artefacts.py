"""Prepared artefacts that are damaged in the cache are rebuilt, never used.

Folders (ExecuTorch's checkpoints and .pte exports) carry a record of every
file's size and sha256, files (each llama.cpp tool of a host or phone build,
quantized GGUFs) their own; each is checked when the real backend
reads it back.  A damaged one is removed with one line naming the entry and
why, and made again.  Damage is what a full disk or a crash leaves behind:
an emptied file, a truncated one, same-size garbage, a file missing from a
folder, a damaged record.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DAMAGES = ["empty", "truncated", "garbage", "missing", "record"]


def damage(folder: Path, rel: str, how: str) -> None:
    """Damage ``folder/rel`` (or the folder's record) as a full disk or a crash would."""
    path = folder / rel
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        size = path.stat().st_size
        path.write_bytes(os.urandom(size))  # same size, other content
    elif how == "missing":
        path.unlink()
    else:
        folder.with_name(folder.name + ".record").write_text("12 not-a-digest\n")


def why(how: str, rel: str) -> str:
    return {
        "empty": f"({rel} has 0 bytes,",
        "truncated": f"({rel} has ",
        "garbage": f"(the content of {rel} differs from what was written)",
        "missing": f"({rel} is missing)",
        "record": "(its record is damaged)",
    }[how]


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test only: damaging the shared one would hurt other tests."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("POCKETBENCH_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def shared_host_build() -> Path:
    """The llama.cpp tools built for this host, in the user's cache (built once)."""
    from pocketbench.backends.llamacpp import build

    return build.ensure_built().parent


def damage_tool(folder: Path, rel: str, how: str) -> None:
    """Damage one tool (or its own record) of a build entry."""
    if how == "record":
        (folder / (rel + ".record")).write_text("12 not-a-digest\n")
    else:
        damage(folder, rel, how)


def tool_note(path: Path, how: str) -> str | None:
    """The note a damaged tool gives (a missing one is simply built)."""
    return {
        "empty": f"note: cached {path} is damaged (it has 0 bytes,",
        "truncated": f"note: cached {path} is damaged (it has ",
        "garbage": f"note: cached {path} is damaged (its content differs from what was written)",
        "missing": None,
        "record": f"note: cached {path} is damaged (its record is damaged)",
    }[how]


@pytest.mark.slow
@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_llamacpp_tools_are_rebuilt_not_run(
    shared_host_build: Path, own_cache: Path, capsys, how: str
) -> None:
    from pocketbench.backends.llamacpp import build, worktree
    from pocketbench.plugin import cache_dir

    dest = cache_dir("llamacpp") / build.build_key()
    assert dest.name == shared_host_build.name
    shutil.copytree(shared_host_build, dest, symlinks=True)
    assert build.built_bin_dir() == dest / "bin"
    capsys.readouterr()
    damage_tool(dest, "bin/llama-completion", how)
    assert build.built_bin_dir() is None, "a damaged build would have been run"
    err = capsys.readouterr().err
    note = tool_note(dest / "bin/llama-completion", how)
    if note is not None:
        assert note in err and "rm " in err and err.count("\n") == 1
    assert not (dest / "bin/llama-completion").exists(), "the damaged tool was kept"
    # Only the damaged tool is built again; the others stay as they were checked.
    assert worktree.missing(dest, build.TARGETS) == ["llama-completion"]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["truncated", "garbage", "missing"])
def test_damaged_cross_build_for_the_phone_is_rebuilt_not_pushed(
    own_cache: Path, capsys, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    from pocketbench.backends.llamacpp import crossbuild
    from pocketbench.backends.llamacpp.crosstarget import cpu_features, target_for
    from pocketbench.plugin import cache_dir
    from pocketbench.testing.phone.arm64 import CPUINFO

    target = target_for("arm64-v8a", cpu_features(CPUINFO), device="the arm64 loopback phone")
    monkeypatch.delenv("POCKETBENCH_CACHE")
    zig = crossbuild.find_toolchain()
    shared = cache_dir("llamacpp-cross") / crossbuild.build_key(target, zig)
    if not (shared / "bin" / "llama-completion").is_file():
        pytest.skip(
            "no cross-build of llama.cpp for arm64 in the cache (tests/devices/adb build it)"
        )
    monkeypatch.setenv("POCKETBENCH_CACHE", str(own_cache))
    dest = cache_dir("llamacpp-cross") / shared.name
    shutil.copytree(shared, dest, symlinks=True)
    assert crossbuild.cached(target, zig, ("llama-completion",)) is not None
    capsys.readouterr()
    damage_tool(dest, "bin/llama-completion", how)
    assert crossbuild.cached(target, zig, ("llama-completion",)) is None, (
        "a damaged build would have been pushed"
    )
    err = capsys.readouterr().err
    note = tool_note(dest / "bin/llama-completion", how)
    if note is not None:
        assert note in err
    assert not (dest / "bin/llama-completion").exists()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["empty", "truncated", "garbage"])
def test_damaged_quantized_gguf_is_quantized_again(
    shared_host_build: Path, own_cache: Path, capsys, how: str
) -> None:
    from pocketbench.backends.llamacpp import gguf_synth, quantize, tools
    from pocketbench.plugin import file_digest, get_preset

    tool = shared_host_build / "bin" / "llama-quantize"
    src = gguf_synth.ensure_preset(get_preset("tiny"))
    args = dict(tool=tool, tool_commit=tools.tool_commit(tool), threads=2)
    out = quantize.quantize(src, file_digest(src), "Q8_0", **args)
    good = file_digest(out)
    capsys.readouterr()
    damage(out.parent, out.name, how)
    again = quantize.quantize(src, file_digest(src), "Q8_0", **args)
    assert again == out and file_digest(out) == good
    err = capsys.readouterr().err
    assert f"note: cached {out} is damaged" in err and f"rm {out}" in err


# -- ExecuTorch ------------------------------------------------------------------


def _tiny_checkpoint() -> tuple[Path, dict]:
    from pocketbench.backends.executorch import export, models
    from pocketbench.plugin import get_preset

    spec = get_preset("tiny")
    params = models._params_for(spec.params_json(), "base")
    final = export.root() / "presets" / f"{spec.name}-{spec.fingerprint()}" / "base"
    return final, params


@pytest.mark.slow
@pytest.mark.executorch
@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_executorch_checkpoint_is_written_again(own_cache: Path, capsys, how: str) -> None:
    pytest.importorskip("executorch")
    from pocketbench.backends.executorch import export

    final, params = _tiny_checkpoint()
    export.ensure_checkpoint(final, params, "base", label="tiny base")
    record = final.with_name(final.name + ".record").read_text()
    capsys.readouterr()
    damage(final, "consolidated.00.pth", how)
    export.ensure_checkpoint(final, params, "base", label="tiny base")
    err = capsys.readouterr().err
    assert f"note: cached {final} is damaged {why(how, 'consolidated.00.pth')}" in err
    assert "writing a random tiny base checkpoint" in err
    # Written again from the same seed: the same files, sizes and digests as at first.
    assert final.with_name(final.name + ".record").read_text() == record


@pytest.mark.slow
@pytest.mark.executorch
def test_damaged_pte_export_is_exported_again_and_loads(own_cache: Path, capsys) -> None:
    """A .pte truncated in its export folder, through the backend's own prepare path."""
    pytest.importorskip("executorch")
    from pocketbench.backends.executorch import models, prepare
    from pocketbench.backends.executorch.schemes import get_scheme
    from pocketbench.plugin import Job, Workload, get_preset

    job = Job(
        backend="executorch",
        quant="baseline",
        model="tiny",
        workload=Workload(prompt_tokens=8, gen_tokens=4, threads=2),
    )
    vers = prepare.versions()
    files = models.preset_files(get_preset("tiny"), get_scheme("baseline"), job, vers)
    capsys.readouterr()
    damage(files.pte.parent, "model.pte", "truncated")
    again = models.preset_files(get_preset("tiny"), get_scheme("baseline"), job, vers)
    err = capsys.readouterr().err
    assert f"note: cached {files.pte.parent} is damaged {why('truncated', 'model.pte')}" in err
    assert "exporting tiny as baseline" in err
    assert prepare.inspect_pte(again.pte), "the exported again .pte does not load"
