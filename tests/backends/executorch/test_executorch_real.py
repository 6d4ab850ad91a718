"""Real exports and runs of the tiny preset with the ExecuTorch runtime (cached in the user cache)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pocketbench.core.api.errors import SetupError
from pocketbench.core.devices.local import LocalDevice
from pocketbench.core.kit.cache import cache_dir
from pocketbench.testing.devices import FakePhone

from .conftest import HELP_V04, HELP_V1, fake_llama_main, job, needs_executorch

pytestmark = [pytest.mark.slow, pytest.mark.executorch, needs_executorch]

SCHEMES = ["baseline", "bf16", "8da4w", "spinquant", "qat-lora"]


def run_once(pm, j, device=None):
    device = device or LocalDevice()
    prepared = pm.hook.pocketbench_prepare(job=j, device=device)
    result = pm.hook.pocketbench_run(job=j, device=device, prepared=prepared, index=0)
    assert result.ok, result.stderr[-2000:]
    metrics = pm.hook.pocketbench_parse(job=j, prepared=prepared, result=result)
    return prepared, result, metrics


def _tiny_takes_spinquant() -> bool:
    from pocketbench.backends.executorch.models import hadamard_ok
    from pocketbench.core.api.presets import get_preset

    return hadamard_ok(get_preset("tiny").ffn_dim)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_tiny_exports_and_runs_exactly_the_workload(pm, scheme: str, tiny_preq_dir: Path) -> None:
    model = "tiny"
    if scheme == "spinquant" and not _tiny_takes_spinquant():
        with pytest.raises(SetupError, match="spinquant needs a feed-forward width of 2"):
            pm.hook.pocketbench_prepare(job=job(scheme), device=LocalDevice())
        # The same shapes with a power-of-two feed-forward width.
        model = str(tiny_preq_dir)
    j = job(scheme, model=model, prompt_tokens=160, gen_tokens=200)
    prepared, result, m = run_once(pm, j)
    assert (m.prompt_tokens, m.gen_tokens) == (160, 200)
    assert m.prompt_tps > 0 and m.generation_tps > 0 and m.total_tps > 0
    assert m.extra["runner_total_rate"] is not None and m.extra["runner_total_rate"] < m.total_tps
    assert m.load_ms is not None and m.ttft_ms is not None
    assert m.peak_rss_bytes and m.peak_rss_bytes > 100 * 2**20
    d = prepared.describe
    assert d["scheme"] == scheme
    assert d["executorch_version"].startswith("1.5") and d["torch_version"].startswith("2.13.0")
    assert len(d["model_sha256"]) == 64 and Path(d["model"]).is_file()
    assert d["eos_ids"] == "[2147483647]"
    assert d["kv_cache"] == "use_kv_cache=True sdpa=True"
    assert d["model"].startswith(str(cache_dir("executorch")))
    assert "PyTorchObserver" in result.stdout


def test_fp32_is_the_baseline(pm) -> None:
    a = pm.hook.pocketbench_prepare(job=job("baseline"), device=LocalDevice())
    b = pm.hook.pocketbench_prepare(job=job("fp32"), device=LocalDevice())
    assert a.describe["model_sha256"] == b.describe["model_sha256"]
    assert a.describe["dtype"] == "fp32"


def test_cached_prepare_exports_nothing(pm, capfd) -> None:
    pm.hook.pocketbench_prepare(job=job("8da4w"), device=LocalDevice())
    capfd.readouterr()
    pm.hook.pocketbench_prepare(job=job("8da4w"), device=LocalDevice())
    assert "exporting" not in capfd.readouterr().err


def test_user_prompt_is_cut_to_the_asked_length(pm) -> None:
    text = "Erzähl mir eine Geschichte über einen Drachen, der Äpfel liebt. " * 3
    _, _, m = run_once(pm, job("baseline", prompt_tokens=150, gen_tokens=60, prompt=text))
    assert (m.prompt_tokens, m.gen_tokens) == (150, 60)


def test_a_pte_with_its_tokenizer(pm, tiny_baseline) -> None:
    pte, tok = tiny_baseline
    _, _, m = run_once(pm, job("baseline", model=str(pte), tokenizer=str(tok)))
    assert (m.prompt_tokens, m.gen_tokens) == (128, 40)


def _checkpoint_dir(tmp_path: Path, kind: str) -> Path:
    """A Meta-format directory made from the preset's cached checkpoint."""
    from pocketbench.backends.executorch import export
    from pocketbench.core.api.presets import get_preset

    spec = get_preset("tiny")
    src = export.root() / "presets" / f"tiny-{spec.fingerprint()}"
    d = tmp_path / f"Tiny-{kind}"
    d.mkdir()
    shutil.copyfile(src / kind / "consolidated.00.pth", d / "consolidated.00.pth")
    shutil.copyfile(src / kind / "params.json", d / "params.json")
    shutil.copyfile(src / "tokenizer.model", d / "tokenizer.model")
    return d


def test_meta_checkpoint_directories(pm, tmp_path: Path, tiny_preq_dir: Path) -> None:
    # The presets have written these checkpoints already.
    pm.hook.pocketbench_prepare(job=job("qat-lora"), device=LocalDevice())
    pm.hook.pocketbench_prepare(job=job("baseline"), device=LocalDevice())
    base, lora = _checkpoint_dir(tmp_path, "base"), _checkpoint_dir(tmp_path, "preq-lora")
    preq = tiny_preq_dir

    prepared, _, m = run_once(pm, job("baseline", model=str(base)))
    assert (m.prompt_tokens, m.gen_tokens) == (128, 40)
    assert prepared.describe["source"].startswith("checkpoint ")
    # A prequantized checkpoint goes through unchanged with the SpinQuant flags.
    prepared, _, m = run_once(pm, job("spinquant", model=str(preq)))
    assert "--use_spin_quant native" in prepared.describe["export_flags"]
    assert (m.prompt_tokens, m.gen_tokens) == (128, 40)

    with pytest.raises(SetupError, match="is a prequantized checkpoint: use --quant spinquant"):
        pm.hook.pocketbench_prepare(job=job("8da4w", model=str(preq)), device=LocalDevice())
    with pytest.raises(SetupError, match="is a QAT.LoRA checkpoint: use --quant qat-lora"):
        pm.hook.pocketbench_prepare(job=job("spinquant", model=str(lora)), device=LocalDevice())
    with pytest.raises(SetupError, match="needs a prequantized INT4_EO8 checkpoint"):
        pm.hook.pocketbench_prepare(job=job("qat-lora", model=str(base)), device=LocalDevice())


@pytest.mark.parametrize("help_text,old", [(HELP_V1, False), (HELP_V04, True)], ids=["v1", "v0.4"])
def test_phone_path_pushes_and_runs_llama_main(
    pm, tmp_path: Path, help_text: str, old: bool
) -> None:
    binary = fake_llama_main(tmp_path / "llama_main", help_text, old=old)
    phone = FakePhone(tmp_path / "phone")
    j = job("baseline", prompt_tokens=120, gen_tokens=60, llama_main=str(binary))
    # What the study's room check counts is what prepare pushes, under the same names.
    listed = pm.hook.pocketbench_device_files(job=j, device=phone)
    assert phone.pushed == []
    prepared, result, m = run_once(pm, j, phone)
    assert (m.prompt_tokens, m.gen_tokens) == (120, 60)
    argv = list(result.argv)
    assert argv[0].startswith(str(phone.root))
    assert all(p.startswith(str(phone.root)) for p in phone.pushed)
    named = {str(phone.root / f.name) for f in listed}
    assert len(named) == 3 and named <= set(phone.pushed)
    (unlisted,) = set(phone.pushed) - named  # the prompt file, a few hundred bytes
    assert Path(unlisted).name.startswith("prompt-") and Path(unlisted).stat().st_size < 4096
    assert argv[argv.index("--model_path") + 1].startswith(str(phone.root))
    if old:
        assert "--seq_len" in argv and "--prompt" in argv
    else:
        assert (
            "--max_new_tokens" in argv and "--ignore_eos=true" in argv and "--prompt_file" in argv
        )
    assert prepared.describe["runner"].startswith("llama_main ")
    assert json.loads(prepared.describe["eos_ids"]) == [2147483647]
