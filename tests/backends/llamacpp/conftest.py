"""Fixtures for the llama.cpp backend tests: plugin managers, jobs, fake tool folders."""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pluggy
import pytest

import pocketbench.core.engine.hookspecs
from pocketbench.core.api.model import Job, Workload
from pocketbench.core.devices.local import LocalDevice
from pocketbench.testing.devices import FakePhone

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def data() -> Path:
    return DATA


@pytest.fixture
def pm() -> Iterator[pluggy.PluginManager]:
    """A fresh manager holding only the llama.cpp backend, as the core builds per job."""
    from pocketbench.backends.llamacpp import plugin

    manager = pluggy.PluginManager("pocketbench")
    manager.add_hookspecs(pocketbench.core.engine.hookspecs)
    manager.register(plugin)
    manager.check_pending()
    try:
        yield manager
    finally:
        manager.unregister(plugin)


@pytest.fixture
def local() -> LocalDevice:
    return LocalDevice()


def make_job(quant: str = "baseline", model: str = "tiny", **kw: object) -> Job:
    workload = Workload(
        prompt_tokens=int(kw.pop("prompt_tokens", 16)),  # type: ignore[arg-type]
        gen_tokens=int(kw.pop("gen_tokens", 8)),  # type: ignore[arg-type]
        threads=2,
        prompt=kw.pop("prompt", None),  # type: ignore[arg-type]
        timeout_s=float(kw.pop("timeout_s", 120.0)),  # type: ignore[arg-type]
    )
    options = {str(k): str(v) for k, v in dict(kw.pop("options", {})).items()}  # type: ignore[call-overload]
    assert not kw, kw
    return Job(backend="llamacpp", quant=quant, model=model, workload=workload, options=options)


@pytest.fixture
def job() -> Callable[..., Job]:
    return make_job


#: A stand-in for llama.cpp's tools: answers --help/--version like them, and
#: behaves as FAKE_LLAMA_MODE says (ok, segv, exit3, silent, hang).
_FAKE_RUNNER = r"""
import os, re, signal, sys, time
args = sys.argv[1:]
if "--help" in args:
    print("-m -f -n -t -c -b --temp --ignore-eos -no-cnv --no-escape --no-display-prompt")
    sys.exit(0)
if "--version" in args:
    print("version: 0.0.1-fake (build 7, commit fake123)", file=sys.stderr)
    print("built with a test for Linux", file=sys.stderr)
    sys.exit(0)
mode = os.environ.get("FAKE_LLAMA_MODE", "ok")
if mode == "segv":
    os.kill(os.getpid(), signal.SIGSEGV)
if mode == "exit3":
    print("llama_model_load: error loading model: fake failure", file=sys.stderr)
    sys.exit(3)
if mode == "hang":
    time.sleep(60)
if mode == "silent":
    print("generate: n_ctx = 256, n_batch = 2048, n_predict = 8, n_keep = 1", file=sys.stderr)
    sys.exit(0)
n = int(args[args.index("-n") + 1])
prompt = open(args[args.index("-f") + 1], encoding="utf-8").read()
p = len(prompt.split()) + 1 + (1 if mode == "longer-prompt" else 0)
print(" word" * n)
e = sys.stderr
print(f"0.00.067.126 I common_perf_print:    sampling time =       0.50 ms", file=e)
print(f"0.00.067.136 I common_perf_print:        load time =      18.85 ms", file=e)
print(f"0.00.067.137 I common_perf_print: prompt eval time =      10.00 ms / {p:5d} tokens", file=e)
print(f"0.00.067.147 I common_perf_print:        eval time =      20.00 ms / {n - 1:5d} runs", file=e)
"""

_FAKE_TOKENIZE = r"""
import sys
args = sys.argv[1:]
if "--help" in args:
    print("--ids --no-escape --log-disable")
    sys.exit(0)
text = open(args[args.index("-f") + 1], encoding="utf-8").read()
print("[" + ", ".join(["1"] + ["7"] * len(text.split())) + "]")
"""

_FAKE_BENCH = r"""
import json, sys
args = sys.argv[1:]
if "--help" in args:
    print("  -p, --n-prompt <n>\n  -n, --n-gen <n>\n  -d, --n-depth <n>\n  -r, --repetitions <n>")
    sys.exit(0)
p, n = int(args[args.index("-p") + 1]), int(args[args.index("-n") + 1])
depths = [int(d) for d in args[args.index("-d") + 1].split(",")] if "-d" in args else [0]
rows = []
for d in depths:  # slower with more context, like the real tool
    rows.append({"n_prompt": p, "n_gen": 0, "n_depth": d, "avg_ts": 1000.5 - d, "stddev_ts": 10.0})
    rows.append({"n_prompt": 0, "n_gen": n, "n_depth": d, "avg_ts": 100.25 - d, "stddev_ts": 1.0})
print(json.dumps(rows))
"""

_FAKE_QUANTIZE = r"""
import sys
print("main: quantizing '%s' to '%s' as %s" % tuple(sys.argv[1:4]))
print("llama_model_quantize: failed to quantize: invalid output file type %s" % sys.argv[3], file=sys.stderr)
sys.exit(1)
"""


def _script(path: Path, body: str) -> None:
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(0o755)


@pytest.fixture
def fake_bin(tmp_path: Path) -> Callable[..., Path]:
    """A folder of fake llama.cpp tools (for --llamacpp-bin / llamacpp_host_bin)."""

    def make(*, tokenize: bool = True, bench: bool = True, quantize: bool = True) -> Path:
        d = tmp_path / "fake-bin"
        if d.exists():
            shutil.rmtree(d)
        d.mkdir()
        _script(d / "llama-completion", _FAKE_RUNNER)
        if tokenize:
            _script(d / "llama-tokenize", _FAKE_TOKENIZE)
        if bench:
            _script(d / "llama-bench", _FAKE_BENCH)
        if quantize:
            _script(d / "llama-quantize", _FAKE_QUANTIZE)
        return d

    return make


@pytest.fixture(autouse=True)
def _no_user_bin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's own environment must not choose the tools under test."""
    for name in ("POCKETBENCH_LLAMACPP_BIN", "POCKETBENCH_LLAMACPP_HOST_BIN", "FAKE_LLAMA_MODE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def phone(tmp_path: Path) -> FakePhone:
    root = tmp_path / "phone"
    root.mkdir()
    return FakePhone(root)


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache: tests with fake tools never touch the user's cache."""
    root = tmp_path / "cache"
    monkeypatch.setenv("POCKETBENCH_CACHE", str(root))
    return root
