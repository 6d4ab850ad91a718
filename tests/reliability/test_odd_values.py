"""Every odd value answered in one line with its valid range, exit code 2, nothing written.

hypothesis draws values for each numeric and string option; ``bench`` runs
in-process (``main``) so a few hundred cases take seconds.  The checks come
before any device or file is opened, so no store may appear.
"""

from __future__ import annotations

import math
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pocketbench.core.cli.main import main
from pocketbench.core.kit import checks
from pocketbench.testing.cli import BIN, bench_env

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

#: option -> values outside its range (as text, the way a shell passes them).
BAD_NUMBERS = {
    "--timeout": st.one_of(
        st.sampled_from(["0", "-1", "nan", "inf", "-inf", "1e300"]),
        st.floats(max_value=0).map(repr),
    ),
    "--gen-tokens": st.integers(max_value=1).map(str),
    "--prompt-tokens": st.integers(max_value=0).map(str),
    "--runs": st.integers(max_value=0).map(str),
    "--warmup": st.integers(max_value=-1).map(str),
    "--threads": st.integers(max_value=0).map(str),
    "--cooldown": st.one_of(
        st.sampled_from(["-1", "nan", "inf", "1e9", "7200"]),
        st.floats(min_value=checks.MAX_COOLDOWN_S, exclude_min=True).map(repr),
    ),
    "--target-ci": st.one_of(
        st.sampled_from(["0", "100", "nan", "inf", "-5"]),
        st.floats().filter(lambda x: not 0 < x < 100).map(repr),
    ),
}


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("option", sorted(BAD_NUMBERS))
def test_bad_input_numbers_are_refused_with_their_range(option, tmp_path, capsys) -> None:
    db = tmp_path / "r.db"

    @SETTINGS
    @given(value=BAD_NUMBERS[option])
    def check(value: str) -> None:
        code = main(["run", "--model", "tiny", "--db", str(db), f"{option}={value}"])
        line = _one_line(capsys)
        assert code == 2, line
        assert option in line or option.lstrip("-").replace("-", "_") in line or "cooldown" in line
        assert not db.exists()

    check()


@SETTINGS
@given(
    name=st.one_of(
        st.just(""),
        st.just("   "),
        st.text(min_size=checks.MAX_NAME + 1, max_size=checks.MAX_NAME + 40),
        st.tuples(
            st.text(max_size=5), st.sampled_from("\n\r\t\x00\x1b\x7f\u2028"), st.text(max_size=5)
        ).map("".join),
    )
)
def test_bad_input_campaign_names_are_refused(name, tmp_path_factory, capsys) -> None:
    db = tmp_path_factory.mktemp("c") / "r.db"
    code = main(["run", "--model", "tiny", "--db", str(db), "--campaign", name])
    line = _one_line(capsys)
    assert code == 2 and "--campaign" in line and "\n" not in line
    assert not db.exists()


@given(value=st.floats(min_value=0.001, max_value=checks.MAX_TIMEOUT_S))
@settings(max_examples=50, deadline=None)
def test_values_within_range_pass_the_checks(value) -> None:
    assert checks.timeout("--timeout", value) == value
    assert checks.target_ci("--target-ci", min(value, 99.0)) == min(value, 99.0)
    assert math.isfinite(checks.cooldown_seconds("--cooldown", min(value, 3600.0)))


def test_bad_input_prompt_that_is_not_utf8_is_refused(tmp_path) -> None:
    r = subprocess.run(
        [str(BIN / "bench"), "run", "--model", "tiny", "--db", "r.db", b"--prompt=caf\xe9 \xff"],
        cwd=tmp_path,
        env=bench_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2, r.stderr
    assert "--prompt is not valid UTF-8" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "r.db").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x = " + "[" * 50 + "]" * 50, "nests too deeply"),
        ("[a]\n" + "".join(f"k{i} = '{'v' * 100}'\n" for i in range(4000)), "larger than"),
        (
            'name = "s"\nruns = "eight"\nmodels = ["tiny"]\ndevices = ["local"]\n'
            '[[framework]]\nbackend = "llamacpp"\nquants = ["f16"]\n',
            "runs",
        ),
        (
            'name = "two\\nlines"\nmodels = ["tiny"]\ndevices = ["local"]\n'
            '[[framework]]\nbackend = "llamacpp"\nquants = ["f16"]\n',
            "name",
        ),  # fmt: skip
        (
            'name = "s"\nmodels = ["tiny"]\ndevices = ["local"]\n[workload]\ngen_tokens = 1\n'
            '[[framework]]\nbackend = "llamacpp"\nquants = ["f16"]\n',
            "workload.gen_tokens",
        ),  # fmt: skip
    ],
)
def test_bad_input_study_files_name_the_key(tmp_path, capsys, text, message) -> None:
    study = tmp_path / "s.toml"
    study.write_text(text)
    code = main(["study", str(study), "--db", str(tmp_path / "r.db")])
    line = _one_line(capsys)
    assert code == 2 and message in line, line
    assert not (tmp_path / "r.db").exists()
