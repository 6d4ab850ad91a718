"""Parsers fuzzed: any text in, metrics or a ParseError out, never anything else.

Inputs are arbitrary text and real captured runner output that has been
truncated, spliced and corrupted, the way a crashing or garbled runtime
prints it.
"""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pocketbench.core.api.errors import ParseError
from pocketbench.core.api.model import Job, Metrics, Prepared, ProcessResult, Workload

REPO = Path(__file__).resolve().parents[2]
LLAMA_DATA = REPO / "tests" / "backends" / "llamacpp" / "data"
ET_DATA = REPO / "tests" / "backends" / "executorch" / "data"
CAPTURED = sorted(p.read_text(errors="replace") for p in LLAMA_DATA.glob("*.std*")) + sorted(
    p.read_text(errors="replace") for p in LLAMA_DATA.glob("*.txt")
)
ET_CAPTURED = sorted(p.read_text(errors="replace") for p in ET_DATA.iterdir() if p.suffix != ".md")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def garbled(draw: st.DrawFn, corpus: list[str] = CAPTURED) -> str:
    """Captured output, cut, spliced with noise, with digits and units corrupted."""
    text = draw(st.sampled_from(corpus))
    cut = draw(st.integers(0, len(text)))
    text = text[:cut] if draw(st.booleans()) else text[cut:]
    noise = draw(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80))
    at = draw(st.integers(0, len(text)))
    text = text[:at] + noise + text[at:]
    for old, new in draw(
        st.lists(
            st.sampled_from(
                [
                    ("ms", "s"),
                    ("1", "-1"),
                    ("=", ""),
                    ("tokens", "runs"),
                    ("0", "nan"),
                    ("per token", "per"),
                    ("(", ""),
                    ("\n", ""),
                ]
            ),
            max_size=3,
        )
    ):
        text = text.replace(old, new, 1)
    return text


def check(parse, job: Job, out: str, err: str) -> None:
    result = ProcessResult(argv=("x",), stdout=out, stderr=err, exit_code=0, wall_s=1.0)
    try:
        m = parse(job=job, prepared=Prepared(), result=result)
    except ParseError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
        return
    assert isinstance(m, Metrics)
    for value in (m.prompt_tps, m.generation_tps, m.total_tps):
        assert math.isfinite(value) and value > 0
    assert (m.prompt_tokens, m.gen_tokens) == (job.workload.prompt_tokens, job.workload.gen_tokens)


def llama_job() -> Job:
    return Job(
        backend="llamacpp",
        quant="q4_0",
        model="tiny",
        workload=Workload(prompt_tokens=64, gen_tokens=64),
    )


@SETTINGS
@given(st.text())
def test_llamacpp_parser_on_any_text(text: str) -> None:
    from pocketbench.backends.llamacpp.plugin import pocketbench_parse

    check(pocketbench_parse, llama_job(), text, text)


@SETTINGS
@given(garbled(), st.booleans())
def test_llamacpp_parser_on_garbled_runner_output(text: str, on_stderr: bool) -> None:
    from pocketbench.backends.llamacpp.plugin import pocketbench_parse

    check(pocketbench_parse, llama_job(), "" if on_stderr else text, text if on_stderr else "")


def test_llamacpp_parser_reads_only_what_was_printed() -> None:
    """Output cut before the timing block never yields figures (no stale or default values)."""
    from pocketbench.backends.llamacpp.plugin import pocketbench_parse

    err = (LLAMA_DATA / "completion_tiny_q4_0_p64_g64.stderr").read_text()
    cut = err.index("prompt eval time")
    for end in range(cut - 200, cut + 1, 7):
        result = ProcessResult(argv=("x",), stdout="", stderr=err[:end], exit_code=0, wall_s=1.0)
        try:
            pocketbench_parse(job=llama_job(), prepared=Prepared(), result=result)
        except ParseError:
            continue
        raise AssertionError(f"figures parsed from output cut at {end}")


def et_job() -> Job:
    return Job(
        backend="executorch",
        quant="8da4w",
        model="tiny",
        workload=Workload(prompt_tokens=64, gen_tokens=64),
    )


@SETTINGS
@given(st.text())
def test_executorch_parser_on_any_text(text: str) -> None:
    from pocketbench.backends.executorch.plugin import pocketbench_parse

    check(pocketbench_parse, et_job(), text, text)


@SETTINGS
@given(garbled(ET_CAPTURED), garbled(ET_CAPTURED))
def test_executorch_parser_on_garbled_runner_output(out: str, err: str) -> None:
    from pocketbench.backends.executorch.plugin import pocketbench_parse

    check(pocketbench_parse, et_job(), out, err)
