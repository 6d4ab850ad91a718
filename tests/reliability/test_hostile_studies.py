"""The third hostile round on study files: every duplicate is refused in one line (exit 2)
before anything is measured, as a scheme listed twice already was.

How fast a large grid is answered is measured by benchmarks/study_check.py, not here.
"""

from __future__ import annotations

import pytest

from pocketbench.testing.faults import one_error_line

FRAMEWORK = '[[framework]]\nbackend = "llamacpp"\nquants = ["q4_0"]\n'


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('models = ["tiny", "tiny", "tiny"]\n' + FRAMEWORK, "models: lists 'tiny' twice"),
        ('models = ["tiny"]\nimports = ["x", "x"]\n' + FRAMEWORK, "imports: lists 'x' twice"),
        ('models = ["tiny"]\ndevices = ["local", "local"]\n' + FRAMEWORK, "devices: lists"),
        (
            'models = ["tiny"]\n'
            + FRAMEWORK
            + FRAMEWORK.replace('"q4_0"]', '"q8_0", "q4_0"]')
            + 'label = "again"\n',
            "framework[1]: measures llamacpp q4_0 like framework[0]",
        ),
    ],
)
def test_a_study_listing_something_twice_is_refused(run_bench, tmp_path, text, key) -> None:
    study = tmp_path / "s.toml"
    study.write_text(text)
    r = run_bench("study", str(study), "--db", "r.db")
    assert r.returncode == 2, r.stderr
    assert key in one_error_line(r.stderr)
    assert not (tmp_path / "r.db").exists()
