"""Lab devices as users type them: adb://HOST:PORT, pool:MODEL[@servers], a study's [lab] table."""

from __future__ import annotations

import pytest

from pocketbench.core.analysis.study import parse_study
from pocketbench.core.api.errors import UsageError
from pocketbench.core.devices.lab import HostSpec, PoolSpec, Server, parse_lab_spec

pytestmark = pytest.mark.fault


def test_hosts_and_pools_are_read_and_single_phones_are_left_to_the_device_forms() -> None:
    assert parse_lab_spec("adb://10.0.0.2:5037") == HostSpec(Server("10.0.0.2", 5037))
    assert parse_lab_spec("adb://[fd00::2]:5038/") == HostSpec(Server("fd00::2", 5038))
    assert parse_lab_spec("pool:SM-A256E") == PoolSpec("SM-A256E")
    spec = parse_lab_spec("pool:Galaxy A25@lab1:5037,10.0.0.3:5037")
    assert spec == PoolSpec("Galaxy A25", (Server("lab1", 5037), Server("10.0.0.3", 5037)))
    assert spec.name == "pool:Galaxy A25"  # where the phones are is not part of the name
    assert parse_lab_spec("adb://10.0.0.2:5037/R58N") is None
    assert parse_lab_spec("adb:R58N") is None and parse_lab_spec("local") is None


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("pool:", "name the phone model"),
        ("pool:A25@lab1", "'lab1' is not an adb server address; write HOST:PORT"),
        ("pool:A25@lab1:99999", "write HOST:PORT"),
        ("adb://lab1", "write HOST:PORT"),
    ],
)
def test_a_bad_lab_device_is_one_line_saying_how_to_write_it(spec: str, says: str) -> None:
    with pytest.raises(UsageError, match="^[^\n]*$") as err:
        parse_lab_spec(spec)
    assert says in str(err.value)


STUDY = {
    "models": ["tiny"],
    "devices": ["pool:Galaxy A25"],
    "framework": [{"backend": "llamacpp", "quants": ["q4_0"]}],
}


def test_a_study_names_its_lab_servers_and_spread() -> None:
    study = parse_study(
        {**STUDY, "lab": {"servers": ["lab1:5037", "lab2:5037"], "spread": "replicate"}}
    )
    assert study.lab.servers == ["lab1:5037", "lab2:5037"] and study.lab.spread == "replicate"
    assert parse_study(STUDY).lab.spread == "shard"


@pytest.mark.parametrize(
    ("lab", "says"),
    [
        ({"spread": "spray"}, "lab.spread: unknown 'spray'; choose one of: shard, replicate"),
        ({"servers": ["lab1"]}, "lab.servers[0]: 'lab1' is not an adb server address"),
        ({"server": ["lab1:5037"]}, "unknown key 'server' in lab; valid keys: servers, spread"),
    ],
)
def test_a_bad_lab_table_is_one_line_naming_the_key(lab: dict, says: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_study({**STUDY, "lab": lab}, source="lab.toml")
    assert says in str(err.value) and "\n" not in str(err.value)
