"""The plugin's cheap parts: import cost, declared schemes, argv, the prompt, the cache lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pocketbench.backends.executorch.launch import RUNNER_FLAGS, local_runner_argv, runner_args
from pocketbench.backends.executorch.schemes import get_scheme
from pocketbench.core.api.model import Workload

from .conftest import HELP_V04, HELP_V1, needs_executorch


def test_plugin_imports_without_torch() -> None:
    code = (
        "import sys; import pocketbench.backends.executorch.plugin as p; "
        "info = p.pocketbench_backend_info(); "
        "heavy = [m for m in ('torch', 'executorch', 'pytorch_tokenizers') if m in sys.modules]; "
        "print(heavy or 'light', info.version)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "light", out.stdout


def test_backend_info_declares_the_schemes(pm) -> None:
    from importlib.metadata import PackageNotFoundError, version

    info = pm.hook.pocketbench_backend_info()
    assert info.scheme_names() == ["baseline", "bf16", "8da4w", "spinquant", "qat-lora"]
    assert info.scheme("fp32").name == "baseline"  # baseline is fp32, selectable by that name
    assert "fp32" in info.scheme("baseline").description
    assert "-qmode 8da4w -G 32 -E 8,0" in info.scheme("8da4w").produced_by
    assert "--use_spin_quant native" in info.scheme("spinquant").produced_by
    assert "-qat -lora 16" in info.scheme("qat-lora").produced_by
    for s in info.schemes:
        assert "-X" in s.produced_by and "-kv" in s.produced_by
    try:
        expected = version("executorch")
    except PackageNotFoundError:
        expected = "not installed"
    assert info.version == expected


def test_argv_for_a_current_llama_main() -> None:
    from pocketbench.backends.executorch.launch import _GFLAG

    flags = set(_GFLAG.findall(HELP_V1))
    w = Workload(prompt_tokens=64, gen_tokens=32, threads=4)
    argv = runner_args(
        flags,
        pte="/d/m.pte",
        tokenizer="/d/t.model",
        prompt_file="/d/p.txt",
        prompt_text="unused",
        w=w,
        warmup=True,
    )
    assert argv == [
        "--model_path",
        "/d/m.pte",
        "--tokenizer_path",
        "/d/t.model",
        "--prompt_file",
        "/d/p.txt",
        "--max_new_tokens",
        "32",
        "--cpu_threads",
        "4",
        "--temperature",
        "0",
        "--num_bos",
        "1",
        "--ignore_eos=true",
        "--warmup=1",
    ]


def test_argv_for_an_old_llama_main_passes_the_prompt_as_one_element() -> None:
    from pocketbench.backends.executorch.launch import _GFLAG

    flags = set(_GFLAG.findall(HELP_V04))
    text = 'it\'s "quoted"; rm -rf / $(echo no) `no`'
    w = Workload(prompt_tokens=20, gen_tokens=10, threads=2)
    argv = runner_args(
        flags,
        pte="m.pte",
        tokenizer="t.model",
        prompt_file="p.txt",
        prompt_text=text,
        w=w,
        warmup=True,
    )
    assert argv[argv.index("--prompt") + 1] == text
    assert argv[argv.index("--seq_len") + 1] == "30"
    assert "--max_new_tokens" not in argv and "--num_bos" not in argv


def test_local_runner_argv() -> None:
    argv = local_runner_argv(
        Path("/m.pte"),
        Path("/t.model"),
        Path("/p.txt"),
        Workload(prompt_tokens=8, gen_tokens=4, threads=3),
    )
    assert argv[:3] == (sys.executable, "-m", "pocketbench.backends.executorch.runner")
    assert set(a[2:].split("=")[0] for a in argv[3:] if a.startswith("--")) <= RUNNER_FLAGS


def test_scheme_aliases() -> None:
    assert get_scheme("FP32").name == "baseline"
    assert get_scheme("qat+lora").name == "qat-lora"
    assert get_scheme("q4_0") is None


@needs_executorch
@pytest.mark.executorch
@pytest.mark.parametrize("n", [2, 3, 17, 64, 300])
@pytest.mark.parametrize("text", [None, "Grüße aus Köln — naïve café!", "x"])
def test_exact_prompt_lengths(tmp_path: Path, n: int, text: str | None) -> None:
    from pocketbench.backends.executorch.tokenizer import (
        Tokenizer,
        exact_prompt,
        write_synthetic_tiktoken,
    )

    path = tmp_path / "tokenizer.model"
    bos, eos = write_synthetic_tiktoken(path, 2048)
    tok = Tokenizer(path)
    assert (tok.vocab_size, tok.bos, bos, eos) == (2048, 1792, 1792, 1793)
    prompt = exact_prompt(tok, n, text, bos=1, ascii_only=True)
    assert len(tok.encode(prompt, 1)) == n
    prompt.encode("ascii")


def test_synthetic_tokens_are_ascii_and_prefix_closed() -> None:
    from pocketbench.backends.executorch.tokenizer import synthetic_ranks

    ranks = list(synthetic_ranks(1792))
    assert len(set(ranks)) == 1792
    words = set(ranks)
    for tok in ranks:
        tok.decode("ascii")
        if len(tok) > 2:
            assert tok[:-1] in words


def test_heavy_lock_makes_a_second_process_wait(tmp_path: Path, monkeypatch, capfd) -> None:
    monkeypatch.setenv("POCKETBENCH_CACHE", str(tmp_path))
    from pocketbench.backends.executorch import export

    done = tmp_path / "holder-done"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, pathlib; from pocketbench.backends.executorch import export\n"
            "with export.heavy_lock('test'):\n"
            "    print('held', flush=True); time.sleep(1.0)\n"
            "    pathlib.Path(sys.argv[1]).write_text('done')",
            str(done),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with export.heavy_lock("exporting something"):
        assert done.exists()  # got the lock only after the holder's work ended
    holder.wait()
    assert (
        "waiting for another process: another export, before exporting something"
        in capfd.readouterr().err
    )


def _holder(gib: float | None) -> subprocess.Popen:
    """A process asking for the heavy lock for a step of ``gib``; it holds it until stdin closes."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pocketbench.backends.executorch import export\n"
            f"with export.heavy_lock('step of {gib} GiB', {gib}):\n"
            "    print('held', flush=True); sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(300)  # the old single lock made the second holder wait for ever
def test_two_small_exports_run_at_once_and_a_large_one_alone(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("POCKETBENCH_CACHE", str(tmp_path))  # the holders inherit it
    procs = []
    try:
        small = [_holder(1.0), _holder(1.0)]
        procs += small
        # Both hold the lock at the same time: two small exports overlap, one a core.
        assert [p.stdout.readline().strip() for p in small] == ["held", "held"]
        large = _holder(None)  # size unknown: it must run alone
        procs.append(large)
        assert "waiting for another process" in large.stderr.readline()
        for p in small:
            p.stdin.close()
        assert large.stdout.readline().strip() == "held"
        late = _holder(1.0)  # a small one waits while the large one runs
        procs.append(late)
        assert "waiting for another process" in late.stderr.readline()
        large.stdin.close()
        assert late.stdout.readline().strip() == "held"
        late.stdin.close()
        assert all(p.wait(timeout=60) == 0 for p in procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
