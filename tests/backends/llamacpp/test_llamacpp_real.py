"""The real llama.cpp tools on the ``tiny`` preset through the plugin's hooks.

The tools are built once from the pinned source into the user's cache (about
four minutes the first time) and reused by every later run of the suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pocketbench.core.api.errors import SetupError
from pocketbench.core.kit.cache import file_digest

pytestmark = pytest.mark.slow

SEED_SCHEMES = {"baseline": "F16", "q8_0": "Q8_0", "q4_0": "Q4_0"}


@pytest.fixture(scope="module")
def built() -> Path:
    from pocketbench.backends.llamacpp import build

    return build.ensure_built()


def execute(pm, job, device, *, runs: int = 2, warmup: int = 1):  # noqa: ANN001, ANN201
    prepared = pm.hook.pocketbench_prepare(job=job, device=device)
    out = []
    for i in range(warmup):
        r = pm.hook.pocketbench_warmup(job=job, device=device, prepared=prepared, index=i)
        out.append((r, pm.hook.pocketbench_parse(job=job, prepared=prepared, result=r)))
    for i in range(runs):
        r = pm.hook.pocketbench_run(job=job, device=device, prepared=prepared, index=i)
        out.append((r, pm.hook.pocketbench_parse(job=job, prepared=prepared, result=r)))
    return prepared, out


@pytest.mark.parametrize("scheme", list(SEED_SCHEMES))
def test_seed_schemes_on_tiny(pm, job, local, built, scheme: str) -> None:
    j = job(quant=scheme, prompt_tokens=32, gen_tokens=16)
    prepared, results = execute(pm, j, local)
    d = prepared.describe
    assert d["tool"] == "llama-completion" and d["build_commit"] == "0c1e57098"
    assert d["quant_type"] == SEED_SCHEMES[scheme]
    assert d["model_sha256"] == file_digest(Path(d["model_file"]))
    assert d["architecture"] == "llama" and int(d["params"]) > 2_000_000
    if scheme != "baseline":
        assert d["quantized_with"].startswith(f"llama-quantize {SEED_SCHEMES[scheme]}")
    for result, m in results:
        assert result.ok and "common_perf_print" in result.stderr
        assert (m.prompt_tokens, m.gen_tokens) == (32, 16)
        assert m.prompt_tps > 0 and m.generation_tps > 0 and m.total_tps > 0
        assert m.load_ms is not None and m.ttft_ms is not None and m.ttft_ms > 0
        assert m.peak_rss_bytes and m.peak_rss_bytes > 1_000_000


def test_second_prepare_reuses_everything(pm, job, local, built) -> None:
    j = job(quant="q4_0", prompt_tokens=24, gen_tokens=8)
    first = pm.hook.pocketbench_prepare(job=j, device=local)
    model = Path(first.describe["model_file"])
    before = (model.stat().st_mtime_ns, built.joinpath("llama-completion").stat().st_mtime_ns)
    second = pm.hook.pocketbench_prepare(job=j, device=local)
    assert second.describe == first.describe
    after = (model.stat().st_mtime_ns, built.joinpath("llama-completion").stat().st_mtime_ns)
    assert after == before  # no rebuild, no re-quantization


def test_generation_is_exactly_gen_tokens_for_long_runs(pm, job, local, built) -> None:
    # Random weights never pick EOS (its embedding row is zero) and EOS is
    # ignored anyway: every run generates what was asked.
    j = job(quant="q8_0", prompt_tokens=100, gen_tokens=200)
    _, results = execute(pm, j, local, runs=1, warmup=0)
    assert results[0][1].gen_tokens == 200


def test_crosscheck_with_llama_bench(pm, job, local, built) -> None:
    j = job(quant="q4_0", prompt_tokens=32, gen_tokens=16, options={"crosscheck": "1"})
    prepared, results = execute(pm, j, local, runs=2, warmup=1)
    warm, first, second = (m for _, m in results)
    assert warm.extra == {} and second.extra == {}
    # The pinned build has -d: tg runs after the 32-token prompt, like the job's own runs.
    assert "-d 0,32" in prepared.describe["crosscheck_argv"]
    assert "tg16 @ d32" in prepared.describe["crosscheck_pairing"]
    for key in ("llamabench_pp_tps", "llamabench_tg_tps", "llamabench_tg_empty_tps"):
        assert first.extra[key] > 0


def test_user_prompt_text_is_sized_exactly(pm, job, local, built) -> None:
    text = "Explain $(uname -a) and `id`; why \"quotes\" | pipes > files & 'so on'."
    j = job(prompt=text, prompt_tokens=40, gen_tokens=4)
    _, results = execute(pm, j, local, runs=1, warmup=0)
    assert results[0][1].prompt_tokens == 40


def test_user_gguf_already_quantized_is_used_as_is(pm, job, local, built) -> None:
    made = pm.hook.pocketbench_prepare(job=job(quant="q4_0"), device=local)
    path = made.describe["model_file"]
    for quant in ("baseline", "q4_0"):
        prepared, results = execute(pm, job(quant=quant, model=path), local, runs=1, warmup=0)
        assert prepared.describe["model_file"] == path
        assert prepared.describe["quant_type"] == "Q4_0"
        assert prepared.describe["quantized_with"].startswith("none")
        assert prepared.describe["model_source"] == "user file"
        assert results[0][0].ok
    with pytest.raises(SetupError, match="already quantized"):
        pm.hook.pocketbench_prepare(job=job(quant="q8_0", model=path), device=local)


def test_user_f16_gguf_is_quantized(pm, job, local, built, tmp_path) -> None:
    made = pm.hook.pocketbench_prepare(job=job(quant="baseline"), device=local)
    copy = tmp_path / "my-model-f16.gguf"
    copy.write_bytes(Path(made.describe["model_file"]).read_bytes())
    prepared = pm.hook.pocketbench_prepare(job=job(quant="q8_0", model=str(copy)), device=local)
    assert prepared.describe["quant_type"] == "Q8_0"
    assert prepared.describe["model_file"] != str(copy)


def test_a_type_llama_quantize_rejects(built, tmp_path, monkeypatch) -> None:
    from pocketbench.backends.llamacpp import gguf_synth, quantize
    from pocketbench.core.api.presets import PRESETS

    monkeypatch.setenv("POCKETBENCH_CACHE", str(tmp_path))  # keep the failure's log private
    src = gguf_synth.ensure_preset(PRESETS["tiny"])
    with pytest.raises(SetupError, match="llama-quantize could not make Q9_9") as exc:
        quantize.quantize(
            src, file_digest(src), "Q9_9", tool=built / "llama-quantize", tool_commit="t", threads=2
        )
    assert Path(str(exc.value).rsplit("see ", 1)[1]).is_file()


def test_phone_path_with_real_tools(pm, job, phone, built) -> None:
    j = job(quant="q8_0", options={"llamacpp_bin": built})
    prepared, results = execute(pm, j, phone, runs=1, warmup=0)
    assert prepared.state.argv[0].startswith(str(phone.root))
    assert prepared.describe["model_device_path"].startswith(str(phone.root))
    assert results[0][1].gen_tokens == 8
