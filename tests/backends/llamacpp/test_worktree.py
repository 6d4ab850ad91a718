"""Each tool built when first needed, in a kept tree: with real cmake and ninja.

A three-file CMake project stands in for llama.cpp (a library two tools link,
like libllama and llama-completion / llama-bench): what is compiled the second
time, what is published and when the tree goes are what a user would see as
"the second tool took seconds" and "the cache holds only binaries".
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pocketbench.backends.llamacpp import worktree
from pocketbench.core.api.errors import SetupError

pytestmark = pytest.mark.skipif(
    not (shutil.which("cmake") and shutil.which("ninja") and shutil.which("cc")),
    reason="needs cmake, ninja and a C compiler (scripts/setup.sh installs them)",
)

CMAKE = """cmake_minimum_required(VERSION 3.14)
project(mini C)
set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
add_library(core STATIC core.c)
add_executable(tool-a a.c)
target_link_libraries(tool-a core)
add_executable(tool-b b.c)
target_link_libraries(tool-b core)
"""
SOURCES = {
    "CMakeLists.txt": CMAKE,
    "core.c": "int core(void) { return 7; }\n",
    "a.c": '#include <stdio.h>\nint core(void);\nint main(void){printf("a%d\\n", core());}\n',
    "b.c": '#include <stdio.h>\nint core(void);\nint main(void){printf("b%d\\n", core());}\n',
}
EVERY = ("tool-a", "tool-b")


@pytest.fixture
def make(tmp_path: Path):  # noqa: ANN201
    """Build some tools of the mini project into ``tmp_path/entry``; returns the log's text."""
    entry, tree, log = tmp_path / "entry", tmp_path / "entry.tree", tmp_path / "build.log"
    unpacked: list[int] = []

    def unpack(dest: Path) -> Path:
        unpacked.append(1)
        dest.mkdir(parents=True)
        for name, text in SOURCES.items():
            (dest / name).write_text(text)
        return dest

    def build(*names: str, configure=None) -> list[str]:  # noqa: ANN001
        return worktree.build_targets(
            entry=entry,
            tree=tree,
            log=log,
            names=names,
            every=EVERY,
            unpack=unpack,
            configure=configure
            or (lambda src, out: ["cmake", "-S", str(src), "-B", str(out), "-G", "Ninja"]),
            label="building the mini project",
        )

    build.entry, build.tree, build.log, build.unpacked = entry, tree, log, unpacked  # type: ignore[attr-defined]
    return build


def _compiled(log: Path, since: int) -> list[str]:
    """The objects ninja compiled after byte ``since`` of the log."""
    text = log.read_text()[since:]
    return sorted(
        Path(line.rsplit(" ", 1)[1]).name
        for line in text.splitlines()
        if line.startswith("[") and "Building C object" in line
    )


def test_only_the_asked_tool_is_built_and_a_later_one_reuses_the_tree(make) -> None:
    assert make("tool-a") == ["tool-a"]
    bin_dir = make.entry / "bin"
    assert sorted(p.name for p in bin_dir.iterdir() if not p.name.endswith(".record")) == ["tool-a"]
    assert (bin_dir / "tool-a.record").is_file()  # size and sha256, checked when read back
    assert make.tree.is_dir(), "the tree is kept while a tool is still to build"
    first = _compiled(make.log, 0)
    assert first == ["a.c.o", "core.c.o"]

    mark = make.log.stat().st_size
    assert make("tool-a", "tool-b") == ["tool-b"]  # tool-a is there already
    assert _compiled(make.log, mark) == ["b.c.o"], "the library was compiled again"
    assert make.unpacked == [1], "the source was unpacked twice"
    assert not make.tree.exists(), "every tool is built: the tree should be gone"
    assert make("tool-a", "tool-b") == []
    assert os.access(bin_dir / "tool-b", os.X_OK)


def test_a_damaged_tool_is_rebuilt_alone(make, capsys: pytest.CaptureFixture[str]) -> None:
    make("tool-a", "tool-b")
    (make.entry / "bin" / "tool-b").write_bytes(b"")  # a full disk
    assert worktree.missing(make.entry, EVERY) == ["tool-b"]
    assert "tool-b is damaged" in capsys.readouterr().err
    assert make("tool-a", "tool-b") == ["tool-b"]
    assert worktree.missing(make.entry, EVERY) == []


def test_a_failed_configure_leaves_no_tree_and_names_the_log(make) -> None:
    def broken(src: Path, out: Path) -> list[str]:
        return ["cmake", "-S", str(src), "-B", str(out), "-G", "Ninja", "-DCMAKE_C_COMPILER=/no/cc"]

    with pytest.raises(SetupError, match=r"while configuring \(exit \d+\); see .*build\.log"):
        make("tool-a", configure=broken)
    assert not make.tree.exists() and not make.entry.exists()
    assert make("tool-a") == ["tool-a"]  # and the next try starts clean


def test_progress_is_a_bar_of_ninja_steps_with_the_time(
    make, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib

    lines: list[str] = []

    class Recorder:
        def update(self, text: str) -> None:
            lines.append(text)

    @contextlib.contextmanager
    def recording(text: str):  # noqa: ANN202
        lines.append(text)
        yield Recorder()

    monkeypatch.setattr(worktree, "status", recording)
    make("tool-a")
    bars = [ln for ln in lines if "steps," in ln]
    assert bars, lines
    last = bars[-1]
    assert last.startswith("building the mini project: compiling tool-a ")
    done, total = last.split(" steps,")[0].rsplit(" ", 1)[1].split("/")
    assert done == total and int(total) >= 3  # two objects and a link at least
    assert "\u2591" not in last and last.endswith("elapsed")
    assert "\u2591" in bars[0] or len(bars) == 1
