"""Fixtures of the ExecuTorch backend's tests.

Heavy fixtures export real models into the user's cache directory
(``core.cache.cache_dir``), so only the first run of the suite pays for the
exports (a few minutes on two cores); later runs find them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pluggy
import pytest

import pocketbench.core.engine.hookspecs
from pocketbench.core.api.model import Job, Workload
from pocketbench.core.devices.local import LocalDevice

DATA = Path(__file__).parent / "data"
HAVE_EXECUTORCH = (
    importlib.util.find_spec("executorch") is not None
    and importlib.util.find_spec("torch") is not None
)
needs_executorch = pytest.mark.skipif(
    not HAVE_EXECUTORCH,
    reason='the executorch extra is not installed (pip install torch==2.13.0 && pip install -e ".[executorch]")',
)


def make_pm() -> pluggy.PluginManager:
    """A fresh manager holding the ExecuTorch backend only (as a job's manager does)."""
    from pocketbench.backends.executorch import plugin

    pm = pluggy.PluginManager("pocketbench")
    pm.add_hookspecs(pocketbench.core.engine.hookspecs)
    pm.register(plugin)
    pm.check_pending()
    return pm


@pytest.fixture
def pm() -> pluggy.PluginManager:
    return make_pm()


def job(
    quant: str = "baseline",
    model: str = "tiny",
    *,
    prompt_tokens: int = 128,
    gen_tokens: int = 40,
    prompt: str | None = None,
    **options: str,
) -> Job:
    return Job(
        backend="executorch",
        quant=quant,
        model=model,
        workload=Workload(
            prompt_tokens=prompt_tokens,
            gen_tokens=gen_tokens,
            threads=2,
            prompt=prompt,
            timeout_s=300,
        ),
        options=dict(options),
    )


#: gflags --help of executorch 1.x examples/models/llama/main.cpp (format of gflags 2.2).
HELP_V1 = """main: Warning: SetUsageMessage() never called

  Flags from /executorch/examples/models/llama/main.cpp:
    -cpu_threads (Number of CPU threads for inference.) type: int32 default: -1
    -data_paths (Data files for the model.) type: string default: ""
    -ignore_eos (Whether to ignore EOS token.) type: bool default: false
    -max_new_tokens (Total number of tokens to generate, excluding the prompt.) type: int32 default: -1
    -model_path (Model serialized in flatbuffer format.) type: string default: "llama2.pte"
    -num_bos (Number of BOS tokens to prepend to the prompt.) type: int32 default: 0
    -num_eos (Number of EOS tokens to append to the prompt.) type: int32 default: 0
    -prompt (Prompt.) type: string default: "The answer to the ultimate question is"
    -prompt_file (Optional path to a file containing the prompt.) type: string default: ""
    -seq_len (DEPRECATED: Please use max_seq_len instead.) type: int32 default: 128
    -temperature (Temperature.) type: double default: 0.80000000000000004
    -tokenizer_path (Tokenizer stuff.) type: string default: "tokenizer.bin"
    -warmup (Whether to run a warmup run.) type: bool default: false
"""

#: The same for a 0.4-era llama_main: no --max_new_tokens, --prompt_file, --num_bos, --ignore_eos.
HELP_V04 = """  Flags from /executorch/examples/models/llama2/main.cpp:
    -cpu_threads (Number of CPU threads for inference.) type: int32 default: -1
    -model_path (Model serialized in flatbuffer format.) type: string default: "llama2.pte"
    -prompt (Prompt.) type: string default: "The answer to the ultimate question is"
    -seq_len (Total number of tokens to generate (prompt + output).) type: int32 default: 128
    -temperature (Temperature.) type: double default: 0.80000000000000004
    -tokenizer_path (Tokenizer stuff.) type: string default: "tokenizer.bin"
    -warmup (Whether to run a warmup run.) type: bool default: false
"""


def fake_llama_main(path: Path, help_text: str, *, old: bool = False) -> Path:
    """An executable standing in for an Android llama_main: prints gflags help, else runs
    this backend's runner with the same flags (as a 0.4-era one: one BOS added by itself)."""
    script = f"""#!{sys.executable}
import sys
HELP = {help_text!r}
args = sys.argv[1:]
if args == ["--help"]:
    sys.stdout.write(HELP)
    sys.exit(1)
args = [a for a in args if not a.startswith("--ignore_eos")]
if {old!r}:
    args += ["--num_bos", "1"]
from pocketbench.backends.executorch.runner import main
sys.exit(main(args))
"""
    path.write_text(script)
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def tiny_baseline() -> tuple[Path, Path]:
    """(model.pte, tokenizer) of the tiny preset exported as baseline (cached)."""
    if not HAVE_EXECUTORCH:
        pytest.skip("the executorch extra is not installed")
    prepared = make_pm().hook.pocketbench_prepare(job=job("baseline"), device=LocalDevice())
    return Path(prepared.describe["model"]), Path(prepared.describe["tokenizer"])


@pytest.fixture(scope="session")
def tiny_preq_dir() -> Path:
    """A prequantized Meta-format directory with tiny's shapes but a power-of-two FFN.

    SpinQuant's Hadamard kernel takes FFN widths of 2^k or 28 * 2^k only; this
    directory makes the SpinQuant path testable whatever the tiny preset's width.
    Kept in the user cache so that its export is cached too.
    """
    if not HAVE_EXECUTORCH:
        pytest.skip("the executorch extra is not installed")
    from pocketbench.backends.executorch import export
    from pocketbench.backends.executorch.synth import preq_params
    from pocketbench.backends.executorch.tokenizer import write_synthetic_tiktoken
    from pocketbench.core.api.presets import get_preset

    params = dict(get_preset("tiny").params_json(), hidden_dim=1024)
    params = preq_params(params, group_size=32)
    d = export.ensure_checkpoint(
        export.root() / "test-fixtures" / "tiny-ffn1024-preq",
        params,
        "preq",
        label="test tiny preq",
    )
    tok = d / "tokenizer.model"
    if not tok.is_file():
        tmp = d / "tokenizer.model.tmp"
        write_synthetic_tiktoken(tmp, params["vocab_size"])
        tmp.replace(tok)
    return d
