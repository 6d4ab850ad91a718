"""The phone's answers that energy is computed from, in the formats real devices print.

The energy-meter text is rebuilt from the printf formats of the power-stats
HAL's ``dump`` (Pixel's PowerStatsAidl): ``"  %32s   %14.2f mWs"`` with
``[NAME]:SUBSYSTEM`` channels, the earlier ``"  %18s   %14.2f mWs"`` with bare
names, and the ``delta`` form with the change in brackets.  The energy
consumers section prints mWs too and must not be read as rails.
"""

from __future__ import annotations

import pytest

from pocketbench.core.devices.androidpower import (
    clock_offset,
    meter_counters,
    parse_probe,
    rail_joules,
)

CONSUMERS = [
    "============= PowerStats HAL 2.0 energy consumers ==============",
    "CPU_CLUSTER  :        4242.00 mWs",
    "     10123 -         12.00 mWs",
    "========== End of PowerStats HAL 2.0 energy consumers ==========",
]


def meter(lines: list[str]) -> list[str]:
    return [
        *CONSUMERS,
        "",
        "============= PowerStats HAL 2.0 energy meter ==============",
        *lines,
        "========== End of PowerStats HAL 2.0 energy meter ==========",
    ]


def test_the_current_hal_format_with_subsystems() -> None:
    lines = meter(
        [
            f"  {'Channel':>32}   {'Cumulative Energy':>18}",
            f"  {'[S4M_VDD_CPUCL0]:CPU(LITTLE)':>32}   {1234567.89:14.2f} mWs",
            f"  {'[VSYS_PWR_DISPLAY]:Display':>32}   {42.5:14.2f} mWs",
        ]
    )
    assert meter_counters(lines) == {
        "[S4M_VDD_CPUCL0]:CPU(LITTLE)": 1234567.89,
        "[VSYS_PWR_DISPLAY]:Display": 42.5,
    }


def test_the_earlier_format_and_the_delta_form() -> None:
    plain = meter([f"  {'S2M_VDD_CPUCL2':>18}   {500.0:14.2f} mWs"])
    delta = meter(
        [
            "Elapsed time: 1500 ms",
            f"  {'[S2M_VDD_CPUCL2]:CPU(BIG)':>32}   {800.0:14.2f} mWs ({300.0:14.2f})",
        ]
    )
    assert meter_counters(plain) == {"S2M_VDD_CPUCL2": 500.0}
    assert meter_counters(delta) == {"[S2M_VDD_CPUCL2]:CPU(BIG)": 800.0}


def test_rail_joules_between_two_dumps_and_a_reset_counter() -> None:
    before = [f"  {'[A]:CPU':>32}   {1000.0:14.2f} mWs", f"  {'[B]:GPU':>32}   {90.0:14.2f} mWs"]
    after = [f"  {'[A]:CPU':>32}   {3500.0:14.2f} mWs", f"  {'[B]:GPU':>32}   {10.0:14.2f} mWs"]
    joules, problem = rail_joules(before, after)
    assert joules == {"[A]:CPU": 2.5} and problem is None  # mWs are mJ; [B] was reset
    assert rail_joules([], after)[1].startswith("not available")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (["Can't find service: android.hardware.power.stats.IPowerStats/default", "rc=1"],
         "Can't find service"),
        (["Permission Denial: can't dump PowerStats from pid=1, uid=2000", "rc=0"],
         "Permission Denial"),
        (["/system/bin/sh: dumpsys: not found", "rc=127"], "dumpsys is missing"),
        (meter([]) + ["rc=0"], "lists no energy-meter channel"),
    ],
    ids=["missing-service", "refused", "no-dumpsys", "no-channels"],
)  # fmt: skip
def test_the_probe_says_why_there_are_no_rails(answer: list[str], expected: str) -> None:
    probe = parse_probe("\n".join(["@rails", *answer]), asked_mask=False)
    assert probe.rails == () and expected in probe.rails_problem


def test_clock_offset_from_bracketed_readings() -> None:
    # uptime 100.00 .. 100.02 around an epoch reading of 1_700_000_000.5 s
    r1 = (100.00, 1_700_000_000_500_000_000, 100.02)
    r2 = (103.00, 1_700_000_003_510_000_000, 103.01)
    offset, error, problem = clock_offset([r1, r2])
    assert problem is None
    assert offset == pytest.approx(1_700_000_000.5 - 100.01, abs=0.01)
    assert 0.01 <= error <= 0.04
    # a wall clock set during the run: no offset, and why
    stepped = (103.00, 1_700_000_013_500_000_000, 103.01)
    assert (
        clock_offset([r1, stepped])[2] == "the device's wall clock moved by 10.00 s during the run"
    )
    # a date without %N (whole seconds) cannot place a phase
    assert "prints no %N" in clock_offset([(100.0, 1_700_000_000, 100.01)])[2]
