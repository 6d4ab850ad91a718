"""The plugin's hooks with fake tools (--llamacpp-bin DIR of small scripts): bad input, crashes.

These run real child processes through the real LocalDevice, only the
llama.cpp binaries are replaced, so they are quick and need no build.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from pocketbench.core.api.errors import ParseError, SetupError

pytestmark = pytest.mark.usefixtures("isolated_cache")


def prepare(pm, job, device):  # noqa: ANN001, ANN201
    return pm.hook.pocketbench_prepare(job=job, device=device)


def run(pm, job, device, prepared, index=0):  # noqa: ANN001, ANN201
    return pm.hook.pocketbench_run(job=job, device=device, prepared=prepared, index=index)


def parse(pm, job, prepared, result):  # noqa: ANN001, ANN201
    return pm.hook.pocketbench_parse(job=job, prepared=prepared, result=result)


def test_workload_is_run_as_argv_with_a_prompt_file(pm, job, local, fake_bin) -> None:
    j = job(options={"llamacpp_bin": fake_bin()}, prompt_tokens=16, gen_tokens=8)
    prepared = prepare(pm, j, local)
    d = prepared.describe
    assert (d["tool"], d["build_commit"], d["quant_type"]) == ("llama-completion", "fake123", "F16")
    assert d["model_source"].startswith("synthetic preset tiny")
    result = run(pm, j, local, prepared)
    argv = list(result.argv)
    assert argv[0] == str(fake_bin() / "llama-completion")
    assert argv[argv.index("-n") + 1] == "8" and argv[argv.index("-t") + 1] == "2"
    assert "--ignore-eos" in argv and argv[argv.index("--temp") + 1] == "0"
    prompt_text = Path(argv[argv.index("-f") + 1]).read_text()
    assert len(prompt_text.split()) == 15  # + BOS = 16 tokens
    m = parse(pm, j, prepared, result)
    assert (m.prompt_tokens, m.gen_tokens) == (16, 8)
    assert m.prompt_tps == pytest.approx(1600.0) and m.generation_tps == pytest.approx(350.0)
    assert m.total_tps == pytest.approx(24 / 0.030)
    assert m.load_ms == pytest.approx(18.85)
    assert m.ttft_ms == pytest.approx(10.0 + 0.5 / 8)
    assert m.extra == {}


def test_user_prompt_with_shell_metacharacters_stays_data(pm, job, local, fake_bin) -> None:
    text = "$(touch /tmp/pwned) `id`; echo \"x\" | cat > y & 'z'"
    j = job(options={"llamacpp_bin": fake_bin()}, prompt=text, prompt_tokens=12)
    prepared = prepare(pm, j, local)
    result = run(pm, j, local, prepared)
    assert all(text not in a for a in result.argv)
    argv = list(result.argv)
    sent = Path(argv[argv.index("-f") + 1]).read_text()
    assert sent.startswith("$(touch /tmp/pwned) `id`;")
    assert parse(pm, j, prepared, result).prompt_tokens == 12


def test_crosscheck_figures_go_to_the_first_measured_run_only(pm, job, local, fake_bin) -> None:
    j = job(options={"llamacpp_bin": fake_bin(), "crosscheck": "yes"})
    prepared = prepare(pm, j, local)
    assert "llama-bench" in prepared.describe["crosscheck_argv"]
    p = j.workload.prompt_tokens
    assert f"-d 0,{p}" in prepared.describe["crosscheck_argv"]
    assert f"@ d{p}" in prepared.describe["crosscheck_pairing"]
    warm = pm.hook.pocketbench_warmup(job=j, device=local, prepared=prepared, index=0)
    assert parse(pm, j, prepared, warm).extra == {}
    first = parse(pm, j, prepared, run(pm, j, local, prepared, 0))
    # The fake tool's rates fall by the depth: pp from an empty context, tg after the prompt.
    assert first.extra["llamabench_pp_tps"] == 1000.5
    assert first.extra["llamabench_tg_tps"] == 100.25 - p
    assert first.extra["llamabench_tg_empty_tps"] == 100.25
    assert first.extra["llamabench_tg_stddev_tps"] == 1.0
    assert parse(pm, j, prepared, run(pm, j, local, prepared, 1)).extra == {}


def test_no_crosscheck_unless_asked(pm, job, local, fake_bin) -> None:
    j = job(options={"llamacpp_bin": fake_bin(bench=False), "crosscheck": "0"})
    prepared = prepare(pm, j, local)
    assert "crosscheck_argv" not in prepared.describe
    assert parse(pm, j, prepared, run(pm, j, local, prepared)).extra == {}


@pytest.mark.parametrize(
    ("mode", "match"),
    [
        ("segv", "killed by SIGSEGV"),
        ("exit3", "exited with code 3: llama_model_load: error loading model: fake failure"),
        ("silent", "stops before the timing lines"),
        ("longer-prompt", "evaluated 17 prompt tokens, the workload asks for 16"),
    ],
)
def test_runner_failures_are_one_line_parse_errors(
    pm, job, local, fake_bin, monkeypatch, mode: str, match: str
) -> None:
    j = job(options={"llamacpp_bin": fake_bin()}, prompt_tokens=16)
    prepared = prepare(pm, j, local)
    monkeypatch.setenv("FAKE_LLAMA_MODE", mode)
    result = run(pm, j, local, prepared)  # a failing run is returned, not raised
    if mode == "segv":
        assert result.exit_code == -signal.SIGSEGV
    with pytest.raises(ParseError, match=match) as exc:
        parse(pm, j, prepared, result)
    assert "\n" not in str(exc.value)


def test_runner_past_its_timeout_is_killed(pm, job, local, fake_bin, monkeypatch) -> None:
    j = job(options={"llamacpp_bin": fake_bin()}, timeout_s=1.0)
    prepared = prepare(pm, j, local)
    monkeypatch.setenv("FAKE_LLAMA_MODE", "hang")
    result = run(pm, j, local, prepared)
    assert result.timed_out
    with pytest.raises(ParseError, match="timed out"):
        parse(pm, j, prepared, result)


def test_bin_dir_must_exist_and_hold_a_runner(pm, job, local, tmp_path) -> None:
    with pytest.raises(SetupError, match="not a directory"):
        prepare(pm, job(options={"llamacpp_bin": tmp_path / "nope"}), local)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SetupError, match="has no llama-completion / llama-cli / main"):
        prepare(pm, job(options={"llamacpp_bin": empty}), local)


def test_bin_dir_from_the_environment(pm, job, local, fake_bin, monkeypatch) -> None:
    monkeypatch.setenv("POCKETBENCH_LLAMACPP_BIN", str(fake_bin()))
    assert prepare(pm, job(), local).describe["build_commit"] == "fake123"


def test_too_old_runner_is_refused(pm, job, local, fake_bin) -> None:
    d = fake_bin()
    script = (d / "llama-completion").read_text().replace("--ignore-eos ", "")
    (d / "llama-completion").write_text(script)
    with pytest.raises(SetupError, match="lacks --ignore-eos"):
        prepare(pm, job(options={"llamacpp_bin": d}), local)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: None, "no such file, and not a preset"),
        (lambda p: p.write_text("hello"), "not a GGUF file"),
        (lambda p: p.write_bytes(b"GGUF\x03\x00\x00\x00\x05"), "truncated GGUF"),
    ],
)
def test_bad_model_paths(pm, job, local, fake_bin, tmp_path, make, match) -> None:  # noqa: ANN001
    path = tmp_path / "model.gguf"
    make(path)
    with pytest.raises(SetupError, match=match) as exc:
        prepare(pm, job(model=str(path), options={"llamacpp_bin": fake_bin()}), local)
    assert "\n" not in str(exc.value)


def test_quantize_failure_names_the_log(pm, job, local, fake_bin) -> None:
    d = fake_bin()
    j = job(quant="q4_0", options={"llamacpp_bin": d, "llamacpp_host_bin": d})
    with pytest.raises(SetupError, match="llama-quantize could not make Q4_0") as exc:
        prepare(pm, j, local)
    message = str(exc.value)
    assert "invalid output file type Q4_0" in message
    log = Path(message.rsplit("see ", 1)[1])
    assert log.is_file() and "failed to quantize" in log.read_text()
    # Nothing half-made is left to be mistaken for a finished model.
    assert not list(log.parent.glob("*-Q4_0-*.gguf"))


def test_phone_of_an_abi_without_a_cross_build_needs_a_bin_dir(pm, job, tmp_path) -> None:
    # Phones of the supported ABIs get a cross-build (tests/devices/adb/test_phone_*).
    import attrs

    from pocketbench.testing.devices import FakePhone

    class MipsPhone(FakePhone):
        def facts(self):  # noqa: ANN202
            return attrs.evolve(super().facts(), abi="mips")

    phone = MipsPhone(tmp_path / "phone")
    with pytest.raises(SetupError, match="mips.*pass --llamacpp-bin DIR") as info:
        prepare(pm, job(), phone)
    assert "\n" not in str(info.value) and phone.pushed == []


def test_phone_gets_tools_model_and_prompt_pushed(pm, job, phone, fake_bin) -> None:
    d = fake_bin()
    (d / "libllama.so").write_bytes(b"\x7fELF fake")
    j = job(options={"llamacpp_bin": d, "crosscheck": "1"})
    prepared = prepare(pm, j, phone)
    st = prepared.state
    root = str(phone.root)
    assert st.argv[0].startswith(root) and os.access(st.argv[0], os.X_OK)
    assert (
        st.model_device.startswith(root)
        and prepared.describe["model_device_path"] == st.model_device
    )
    assert st.prompt_device.startswith(root)
    assert st.env == {"LD_LIBRARY_PATH": os.path.dirname(st.argv[0])}
    assert any(p.endswith("/libllama.so") for p in phone.pushed)
    m = parse(pm, j, prepared, run(pm, j, phone, prepared))
    assert (m.prompt_tokens, m.gen_tokens) == (16, 8) and "llamabench_tg_tps" in m.extra
    # argv is a list of strings for the device to quote, never one shell string
    assert isinstance(st.argv, tuple) and all(isinstance(a, str) for a in st.argv)


def test_phone_quantization_needs_host_tools(pm, job, phone, fake_bin, monkeypatch) -> None:
    from pocketbench.backends.llamacpp import build

    def no_toolchain() -> None:
        raise SetupError("building llama.cpp needs cmake (install cmake g++ ninja-build)")

    monkeypatch.setattr(build, "_check_toolchain", no_toolchain)
    monkeypatch.setattr(build, "source_archive", lambda: Path("never-used.tar.gz"))
    j = job(quant="q8_0", options={"llamacpp_bin": fake_bin()})
    with pytest.raises(SetupError, match="llama-quantize runs on this host.*llamacpp_host_bin"):
        prepare(pm, j, phone)
