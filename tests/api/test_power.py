"""Battery samples to joules: units, sign convention, charging and gaps."""

from __future__ import annotations

import math

import pytest

from pocketbench.core.api.power import battery_trace, trapezoid


def _samples(unit: float, sign: int, *, charging: bool = False, n: int = 21, dt: float = 0.2):
    # 0.5 A at 4.0 V for 4 s: 8 J.
    return [(i * dt, sign * 0.5 * unit, 4_000_000.0, charging) for i in range(n)]


@pytest.mark.parametrize(("unit", "name"), [(1e6, "uA"), (1e3, "mA")])
@pytest.mark.parametrize("sign", [1, -1])
def test_units_and_sign_give_the_same_joules(unit: float, name: str, sign: int) -> None:
    trace = battery_trace(_samples(unit, sign), start=0.0, end=4.0, period_s=0.2)
    assert trace.ok and trace.current_unit == name and trace.voltage_unit == "uV"
    assert trace.discharge_sign == sign
    assert math.isclose(trace.joules, 8.0, rel_tol=1e-9)
    assert math.isclose(trace.rate_hz, 5.0)


def test_charging_gives_no_joules_and_says_how_to_measure() -> None:
    trace = battery_trace(_samples(1e6, 1, charging=True), start=0.0, end=4.0, period_s=0.2)
    assert trace.joules is None and trace.charging
    assert "wireless adb" in trace.problem


def test_samples_that_stop_mid_run_give_no_joules() -> None:
    trace = battery_trace(_samples(1e6, 1, n=6), start=0.0, end=4.0, period_s=0.2)
    assert trace.joules is None and "stopped for 3.0 s" in trace.problem  # > max(4 periods, 2 s)


def test_no_current_is_said() -> None:
    trace = battery_trace(
        [(0.0, 0.0, 4e6, False), (0.2, 0.0, 4e6, False)], start=0, end=0.2, period_s=0.2
    )
    assert trace.joules is None and "no readable battery current" in trace.problem


def test_trapezoid_is_exact_for_a_ramp() -> None:
    assert trapezoid([0.0, 1.0, 3.0], [0.0, 1.0, 3.0]) == pytest.approx(4.5)


def test_a_run_too_short_for_the_gauge_gives_no_joules() -> None:
    trace = battery_trace(_samples(1e6, 1, n=2), start=0.0, end=0.2, period_s=0.2)
    assert trace.joules is None and "too short for a battery gauge" in trace.problem
