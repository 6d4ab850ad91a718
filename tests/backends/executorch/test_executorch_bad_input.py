"""Bad input: each is one readable line, and a failing run is returned, not raised."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from pocketbench.core.api.errors import ParseError, SetupError
from pocketbench.core.devices.local import LocalDevice
from pocketbench.testing.devices import FakePhone

from .conftest import job, needs_executorch


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    return text


def test_missing_extra_says_how_to_install(pm, monkeypatch) -> None:
    from pocketbench.backends.executorch import prepare

    monkeypatch.setattr(prepare, "find_spec", lambda name: None)
    with pytest.raises(SetupError) as info:
        pm.hook.pocketbench_prepare(job=job(), device=LocalDevice())
    text = one_line(info.value)
    assert "pip install torch==2.13.0" in text and "pocketbench[executorch]" in text


def test_phone_without_llama_main(pm, tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="pass --llama-main PATH") as info:
        pm.hook.pocketbench_prepare(job=job(), device=FakePhone(tmp_path))
    one_line(info.value)


def test_unknown_model(pm) -> None:
    with pytest.raises(SetupError, match="not a preset") as info:
        pm.hook.pocketbench_prepare(job=job(model="/nonexistent/model.gguf"), device=LocalDevice())
    one_line(info.value)


def test_pte_without_tokenizer(pm, tmp_path: Path) -> None:
    pte = tmp_path / "m.pte"
    pte.write_bytes(b"\0" * 64)
    with pytest.raises(SetupError, match="pass --tokenizer PATH"):
        pm.hook.pocketbench_prepare(job=job(model=str(pte)), device=LocalDevice())


def test_export_killed_is_reported_as_out_of_memory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("POCKETBENCH_CACHE", str(tmp_path / "cache"))
    from pocketbench.backends.executorch import export

    log = tmp_path / "export.log"
    kill = f"import os, signal; print('loading'); os.kill(os.getpid(), {int(signal.SIGKILL)})"
    with pytest.raises(SetupError) as info:
        export.run_logged([sys.executable, "-c", kill], cwd=tmp_path, log=log, what="exporting x")
    text = one_line(info.value)
    assert "exporting x was killed by SIGKILL (out of memory?)" in text
    kept = Path(text.rsplit("log: ", 1)[1])
    assert "loading" in kept.read_text()


@needs_executorch
@pytest.mark.executorch
def test_corrupt_pte(pm, tmp_path: Path) -> None:
    from pocketbench.backends.executorch.tokenizer import write_synthetic_tiktoken

    pte, tok = tmp_path / "broken.pte", tmp_path / "tokenizer.model"
    pte.write_bytes(b"ET12" + b"\x17" * 4096)
    write_synthetic_tiktoken(tok, 2048)
    with pytest.raises(SetupError, match="is not a loadable ExecuTorch program") as info:
        pm.hook.pocketbench_prepare(
            job=job(model=str(pte), tokenizer=str(tok)), device=LocalDevice()
        )
    one_line(info.value)


@needs_executorch
@pytest.mark.executorch
@pytest.mark.slow
def test_truncated_pte_and_the_runner_that_cannot_load_it(
    pm, tmp_path: Path, tiny_baseline
) -> None:
    from pocketbench.backends.executorch.launch import local_runner_argv
    from pocketbench.core.api.model import Prepared

    pte, tok = tiny_baseline
    cut = tmp_path / "cut.pte"
    cut.write_bytes(pte.read_bytes()[: pte.stat().st_size // 3])
    with pytest.raises(SetupError, match="not a loadable ExecuTorch program"):
        pm.hook.pocketbench_prepare(
            job=job(model=str(cut), tokenizer=str(tok)), device=LocalDevice()
        )

    # Run anyway (as a stale cache would): the run returns, parse says why in one line.
    prompt = tmp_path / "p.txt"
    prompt.write_text("hello there")
    j = job(model=str(cut), tokenizer=str(tok))
    from pocketbench.backends.executorch.launch import RunPlan

    plan = RunPlan(argv=local_runner_argv(cut, tok, prompt, j.workload))
    result = pm.hook.pocketbench_run(
        job=j, device=LocalDevice(), prepared=Prepared(state=plan), index=0
    )
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot load")
    with pytest.raises(ParseError) as info:
        pm.hook.pocketbench_parse(job=j, prepared=Prepared(state=plan), result=result)
    one_line(info.value)


@needs_executorch
@pytest.mark.executorch
@pytest.mark.slow
def test_tokenizer_of_another_vocabulary(pm, tmp_path: Path, tiny_baseline) -> None:
    from pocketbench.backends.executorch.tokenizer import write_synthetic_tiktoken

    pte, _ = tiny_baseline
    tok = tmp_path / "other.model"
    write_synthetic_tiktoken(tok, 1000)
    with pytest.raises(SetupError, match="has 1000 ids but .* vocabulary of 2048") as info:
        pm.hook.pocketbench_prepare(
            job=job(model=str(pte), tokenizer=str(tok)), device=LocalDevice()
        )
    one_line(info.value)


@needs_executorch
@pytest.mark.executorch
@pytest.mark.slow
def test_workload_longer_than_the_model_context(pm, tiny_baseline) -> None:
    pte, tok = tiny_baseline
    j = job(model=str(pte), tokenizer=str(tok), prompt_tokens=400, gen_tokens=200)
    with pytest.raises(SetupError, match="exported for 512") as info:
        pm.hook.pocketbench_prepare(job=j, device=LocalDevice())
    one_line(info.value)


@needs_executorch
@pytest.mark.executorch
@pytest.mark.slow
def test_export_failure_keeps_the_log(pm, tmp_path: Path, monkeypatch) -> None:
    # A cache of its own: the failing export must not wait behind real ones.
    monkeypatch.setenv("POCKETBENCH_CACHE", str(tmp_path / "cache"))
    from pocketbench.backends.executorch.tokenizer import write_synthetic_tiktoken
    from pocketbench.core.api.presets import get_preset

    d = tmp_path / "Broken-checkpoint"
    d.mkdir()
    (d / "params.json").write_text(json.dumps(get_preset("tiny").params_json()))
    (d / "consolidated.00.pth").write_bytes(b"not a torch file")
    write_synthetic_tiktoken(d / "tokenizer.model", 2048)
    with pytest.raises(
        SetupError, match=r"exporting Broken-checkpoint as baseline exited with code \d+"
    ) as info:
        pm.hook.pocketbench_prepare(job=job(model=str(d)), device=LocalDevice())
    text = one_line(info.value)
    log = Path(text.rsplit("log: ", 1)[1])
    assert "export_llama" in log.read_text()


def test_bad_input_llama_main_for_another_processor_is_refused_before_any_push(
    pm, tmp_path: Path
) -> None:
    import attrs

    class Arm64Phone(FakePhone):
        def facts(self):  # noqa: ANN202
            return attrs.evolve(super().facts(), abi="arm64-v8a")

    phone = Arm64Phone(tmp_path / "phone")
    host_binary = Path(sys.executable).resolve()  # an x86-64 (host) executable
    with pytest.raises(SetupError) as info:
        pm.hook.pocketbench_prepare(job=job(llama_main=str(host_binary)), device=phone)
    text = one_line(info.value)
    assert "--llama-main" in text and "arm64-v8a" in text
    assert phone.pushed == []
