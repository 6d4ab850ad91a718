"""Fixtures of the adb suite: Debian's adb server on a private port and loopback phones.

Tests that need the real server are marked ``adb`` and skipped, with the
reason, when ``adb`` is not installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pocketbench.testing.phone.adbd import Fixture
from pocketbench.testing.phone.adbhost import (
    AdbServer,
    LoopbackPhone,
    adb_server,
    find_adb,
    loopback_phone,
)

NO_ADB = "Debian's adb is not installed: apt-get install -y adb"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if find_adb() is None:
        skip = pytest.mark.skip(reason=NO_ADB)
        for item in items:
            if "adb" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def server() -> Iterator[AdbServer]:
    """A private adb server (never port 5037), killed after the test."""
    if find_adb() is None:
        pytest.skip(NO_ADB)
    with adb_server() as s:
        yield s


@pytest.fixture
def attach(server: AdbServer, tmp_path: Path) -> Iterator[Callable[..., LoopbackPhone]]:
    """``attach(fixture=None)`` attaches one more loopback phone to ``server``."""
    import contextlib

    with contextlib.ExitStack() as stack:
        count = 0

        def make(fixture: Fixture | None = None) -> LoopbackPhone:
            nonlocal count
            count += 1
            return stack.enter_context(loopback_phone(server, tmp_path / f"phone{count}", fixture))

        yield make


@pytest.fixture
def phone(attach: Callable[..., LoopbackPhone]) -> LoopbackPhone:
    """One loopback phone with the default fixture, attached to a private server."""
    return attach()


@pytest.fixture
def device(phone: LoopbackPhone):
    """The phone opened as a pocketbench device (``adb:SERIAL`` on the private server)."""
    from pocketbench.core.devices import open_device

    dev = open_device(f"adb:{phone.serial}", adb_port=phone.server_port)
    yield dev
    dev.close()


@pytest.fixture(scope="session")
def arm64_tools():
    """llama.cpp cross-built for the arm64 loopback phone (cached; the first build takes minutes).

    Skipped, with the reason, where aarch64 executables cannot run (no
    qemu-aarch64 registered with binfmt_misc).
    """
    from pocketbench.testing.phone.arm64 import CPUINFO, arm64_unavailable

    reason = arm64_unavailable()
    if reason:
        pytest.skip(reason)
    from pocketbench.backends.llamacpp import crossbuild
    from pocketbench.backends.llamacpp.crosstarget import cpu_features, target_for

    target = target_for("arm64-v8a", cpu_features(CPUINFO), device="the arm64 loopback phone")
    # What the phone tests run, and so what `bench` itself builds for them: the
    # phone's llama-bench and llama-perplexity would only cost minutes of zig.
    return crossbuild.ensure_built(
        target, crossbuild.find_toolchain(), ("llama-completion", "llama-tokenize")
    )


@pytest.fixture(scope="session")
def host_build() -> str:
    """The host's own llama.cpp build (cached)."""
    from pocketbench.backends.llamacpp import build

    return str(build.ensure_built())


def tiny_llamacpp_study(
    path: Path, *, name: str, device: str, bin_dir: str, quants: list[str], runs: int, lab: str = ""
) -> Path:
    """A study file: the tiny preset, a small matched workload, llama.cpp from ``bin_dir``."""
    import json

    path.write_text(
        f"""
name = "{name}"
models = ["tiny"]
devices = ["{device}"]
runs = {runs}
warmup = 0

[workload]
prompt_tokens = 16
gen_tokens = 8
threads = 1
{lab}
[[framework]]
backend = "llamacpp"
quants = {json.dumps(quants)}
options = {{ llamacpp_bin = "{bin_dir}" }}
""",
        encoding="utf-8",
    )
    return path
