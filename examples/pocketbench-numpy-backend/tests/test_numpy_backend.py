"""The example backend's own tests: they use only pocketbench.plugin and pocketbench.testing.

Run them with the package installed (``pip install -e .`` in this folder,
then ``python -m pytest tests``): the runtime is started as a child process
by its module name, as ``bench`` would.
"""

from __future__ import annotations

import pytest
from pocketbench_numpy import plugin

from pocketbench.plugin import Job, ParseError, ProcessResult, SetupError
from pocketbench.testing.devices import FakePhone
from pocketbench.testing.inprocess import measure


def test_every_run_is_measured_and_stored(tmp_path) -> None:
    config = measure(plugin, "numpy-ref", tmp_path, quant="fp16", runs=2, gen_tokens=4)
    assert config.n_ok == 2 and len(config.warmups) == 1
    assert config.summary("generation_tps").mean > 0
    assert config.records[0].metrics.prompt_tokens == 16


def test_a_phone_is_refused_with_one_line(tmp_path) -> None:
    with pytest.raises(SetupError, match="only on the local host") as refused:
        measure(plugin, "numpy-ref", tmp_path, device=FakePhone(tmp_path / "phone"))
    assert "\n" not in str(refused.value)


def test_output_without_timing_lines_is_a_parse_error() -> None:
    job = Job(backend="numpy-ref", quant="fp32", model="tiny")
    result = ProcessResult(
        argv=("x",), stdout="Segmentation fault\n", stderr="", exit_code=0, wall_s=1.0
    )
    with pytest.raises(ParseError, match="timing lines"):
        plugin.pocketbench_parse(job=job, prepared=None, result=result)
