"""--cores on the Galaxy A25's layout: clusters from maximum frequencies, and one-line refusals."""

from __future__ import annotations

import pytest

from pocketbench.core.api import placement
from pocketbench.core.api.errors import UsageError
from pocketbench.core.api.model import DeviceFacts, Job, Workload
from pocketbench.core.engine.cores import place

#: The Galaxy A25 (Exynos 1280): six 2.0 GHz little cores, then two 2.4 GHz big ones.
A25 = DeviceFacts(
    name="adb:A25", kind="adb", cores=8, max_freqs_khz=(2_002_000,) * 6 + (2_400_000,) * 2
)
FLAT = DeviceFacts(name="adb:flat", kind="adb", cores=4, max_freqs_khz=(2_000_000,) * 4)


def test_big_little_and_all_come_from_the_clusters() -> None:
    assert placement.resolve("big", A25) == (6, 7)
    assert placement.resolve("little", A25) == (0, 1, 2, 3, 4, 5)
    assert placement.resolve("all", A25) == tuple(range(8))
    assert placement.resolve("0,6-7", A25) == (0, 6, 7)
    assert placement.mask((6, 7)) == "c0"
    assert placement.format_list((0, 1, 2, 6, 7)) == "0-2,6-7"


def test_default_threads_are_the_big_cores_on_a_clustered_phone() -> None:
    assert place(A25, None, None) == (2, ())
    assert place(FLAT, None, None) == (4, ())
    assert place(A25, "little", None) == (6, (0, 1, 2, 3, 4, 5))


def test_threads_beyond_the_allowed_cores_warn_in_one_line() -> None:
    said: list[str] = []
    assert place(A25, "big", 4, said.append) == (4, (6, 7))
    (line,) = said
    assert "--threads 4 exceeds the 2 core(s) allowed" in line and "6-7" in line


@pytest.mark.parametrize(
    ("spec", "facts", "expected"),
    [
        (
            "big",
            FLAT,
            "adb:flat has no big cluster (its cores all have the same maximum frequency)",
        ),
        ("little", DeviceFacts(name="vm", kind="local", cores=2), "not readable"),
        ("0,9", A25, "adb:A25 has no core 9 (it has cores 0-7)"),
        ("7-5", A25, "runs backwards"),
        ("fast", A25, "use big, little, all or a list"),
    ],
)
def test_bad_core_specs_are_one_line(spec: str, facts: DeviceFacts, expected: str) -> None:
    with pytest.raises(UsageError) as err:
        placement.resolve(spec, facts)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_pinned_cores_are_part_of_the_configuration_identity() -> None:
    unpinned = Job(backend="b", quant="q", model="m", workload=Workload(threads=2))
    big = Job(backend="b", quant="q", model="m", workload=Workload(threads=2, cores=(6, 7)))
    little = Job(backend="b", quant="q", model="m", workload=Workload(threads=2, cores=(0, 1)))
    keys = {unpinned.config_key(), big.config_key(), little.config_key()}
    assert len(keys) == 3
    assert "cores" not in unpinned.config_key()  # stores written before --cores keep their keys
