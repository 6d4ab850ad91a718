"""Statistics against values computed independently of statsmodels."""

from __future__ import annotations

import math

import pytest

from pocketbench.core.results import stats

# R's documented example, ``t.test(extra ~ group, data = sleep)`` (Welch):
#   t = -1.8608, df = 17.776, p-value = 0.07939
#   95 percent confidence interval: -3.3654832  0.2054832
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_welch_matches_r_sleep_example() -> None:
    w = stats.welch(SLEEP_1, SLEEP_2)
    assert w.t == pytest.approx(-1.8608, abs=5e-5)
    assert w.df == pytest.approx(17.776, abs=5e-4)
    assert w.pvalue == pytest.approx(0.07939, abs=5e-6)
    assert w.diff == pytest.approx(0.75 - 2.33)
    assert w.diff_ci[0] == pytest.approx(-3.3654832, abs=1e-6)
    assert w.diff_ci[1] == pytest.approx(0.2054832, abs=1e-6)


def test_welch_by_hand_formula() -> None:
    # Welch-Satterthwaite written out, the p-value from scipy's t distribution.
    from scipy.stats import t as student_t

    a = [5.31, 5.10, 5.42, 5.55, 5.20, 5.33, 5.01, 5.38]
    b = [5.64, 5.70, 5.52, 5.81, 5.60, 5.49, 5.75, 5.62]

    def mv(x: list[float]) -> tuple[float, float]:
        m = sum(x) / len(x)
        return m, sum((v - m) ** 2 for v in x) / (len(x) - 1)

    (ma, va), (mb, vb) = mv(a), mv(b)
    se2a, se2b = va / len(a), vb / len(b)
    t = (ma - mb) / math.sqrt(se2a + se2b)
    df = (se2a + se2b) ** 2 / (se2a**2 / (len(a) - 1) + se2b**2 / (len(b) - 1))
    p = 2 * student_t.sf(abs(t), df)
    w = stats.welch(a, b)
    assert (w.t, w.df, w.pvalue) == pytest.approx((t, df, p), rel=1e-9)


def test_summary_by_hand() -> None:
    # mean 4.5; deviations -0.2, 0, 0.1, -0.1, 0.2 -> s^2 = 0.10 / 4 = 0.025; s = 0.1581139.
    values = [4.3, 4.5, 4.6, 4.4, 4.7]
    s = stats.summarize(values)
    assert s.n == 5
    assert s.mean == pytest.approx(4.5)
    assert s.stdev == pytest.approx(0.158113883)
    # Cox's interval on the log scale, by hand; t(0.975, 4) = 2.7764451 (table).
    logs = [math.log(v) for v in values]
    ybar = sum(logs) / 5
    s2 = sum((y - ybar) ** 2 for y in logs) / 4
    half = 2.7764451 * math.sqrt(s2 / 5 + s2**2 / 8)
    centre = ybar + s2 / 2
    assert s.ci95 == pytest.approx((math.exp(centre - half), math.exp(centre + half)), abs=1e-6)
    # For a spread this tight it is within 0.5% of Student's t interval (4.304, 4.696).
    t_half = 2.7764451 * 0.158113883 / math.sqrt(5)
    assert s.ci95 == pytest.approx((4.5 - t_half, 4.5 + t_half), rel=5e-3)
    assert s.outliers == ()


def test_a_speed_interval_never_reaches_zero() -> None:
    # Two runs far apart: Student's t would give (-35.6, 49.6) tokens/s.
    s = stats.summarize([3.0, 11.0])
    low, high = s.ci95
    assert 0 < low < s.mean < high
    # A sample with a zero or negative value falls back to Student's t (not a rate).
    assert stats.summarize([-1.0, 1.0]).ci95[0] < 0


def test_summary_small_samples() -> None:
    assert math.isnan(stats.summarize([]).mean)
    one = stats.summarize([3.0])
    assert one.mean == 3.0 and math.isnan(one.stdev) and math.isnan(one.ci95[0])
    const = stats.summarize([2.0, 2.0, 2.0])
    assert const.stdev == 0 and const.ci95 == (2.0, 2.0)


def test_tukey_outliers_flagged_and_kept() -> None:
    values = [10.0, 10.2, 10.1, 10.3, 10.4, 10.2, 10.3, 7.0]
    s = stats.summarize(values)
    assert s.outliers == (7,)
    assert s.n == 8 and s.samples[7] == 7.0  # kept
    # Sorted 10.0 10.1 10.2 10.2 10.3 10.3 10.4 x (x >= 10.4); type-7 quartiles at
    # positions 1.75 and 5.25: Q1 = 10.175, Q3 = 10.325, IQR = 0.15, upper fence 10.55.
    assert stats.outliers([10.0, 10.2, 10.1, 10.3, 10.4, 10.2, 10.3, 10.56]) == (7,)
    assert stats.outliers([10.0, 10.2, 10.1, 10.3, 10.4, 10.2, 10.3, 10.54]) == ()
    assert stats.outliers([1.0, 2.0, 100.0]) == ()  # too few to tell


def test_holm_by_hand() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 -> max(0.06, 0.04)
    adjusted, reject = stats.adjust_pvalues([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert reject == [True, False, False, True]


def test_holm_ignores_untestable() -> None:
    adjusted, reject = stats.adjust_pvalues([0.01, math.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.04)
    assert math.isnan(adjusted[1]) and reject == [True, False, True]


def test_trend_matches_linregress_and_flags_throttling() -> None:
    from scipy.stats import linregress

    y = [10.0, 9.8, 9.75, 9.5, 9.4, 9.15, 9.0, 8.8]
    ref = linregress(range(len(y)), y)
    tr = stats.trend(y)
    assert tr.slope == pytest.approx(ref.slope)
    assert tr.pvalue == pytest.approx(ref.pvalue)
    fitted_first = ref.intercept
    assert tr.change_pct == pytest.approx(ref.slope * 7 / fitted_first * 100)
    assert tr.throttling


def test_trend_noise_is_not_throttling() -> None:
    y = [9.1, 9.4, 9.0, 9.3, 9.2, 9.5, 9.1, 9.3]
    assert not stats.trend(y).throttling
    rising = [9.0, 9.2, 9.4, 9.6, 9.8, 10.0]
    assert not stats.trend(rising).throttling
    assert not stats.trend([1.0, 2.0]).throttling  # too few


def test_trend_uses_given_run_indices() -> None:
    y = [10.0, 9.0, 8.0]
    assert stats.trend(y, index=[0, 2, 4]).slope == pytest.approx(-0.5)


def test_ratio_fieller_endpoints_solve_the_welch_equation() -> None:
    from scipy.stats import t as student_t

    a = [15.42, 14.1, 16.3, 15.9, 14.8, 15.0, 16.1, 15.7]
    b = [5.31, 5.10, 5.42, 5.55, 5.20, 5.33, 5.01, 5.38]
    r = stats.ratio(a, b)
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    va = sum((v - ma) ** 2 for v in a) / (n - 1) / n
    vb = sum((v - mb) ** 2 for v in b) / (n - 1) / n
    est = ma / mb
    assert r.estimate == pytest.approx(est)
    df = (va + est**2 * vb) ** 2 / (va**2 / (n - 1) + est**4 * vb**2 / (n - 1))
    tq = student_t.ppf(0.975, df)
    for rho in r.ci:
        assert abs(ma - rho * mb) / math.sqrt(va + rho**2 * vb) == pytest.approx(tq)
    assert r.ci[0] < est < r.ci[1]
    # Close to the delta method on the log scale when both means are precise.
    se_log = math.sqrt(va / ma**2 + vb / mb**2)
    assert r.ci[0] == pytest.approx(est * math.exp(-tq * se_log), rel=5e-3)
    assert r.ci[1] == pytest.approx(est * math.exp(tq * se_log), rel=5e-3)
    assert r.pct == pytest.approx((est - 1) * 100)


def test_ratio_unbounded_when_denominator_is_noise() -> None:
    r = stats.ratio([1.0, 1.1, 0.9], [0.1, -0.2, 0.15])
    assert not r.bounded


def test_ci_within() -> None:
    tight = [10.0, 10.1, 9.9, 10.0, 10.05]
    assert stats.ci_within(tight, 2.0)
    assert not stats.ci_within(tight, 0.5)
    assert not stats.ci_within([10.0, 10.0], 5.0)  # fewer than min_n
    assert stats.ci_within([10.0, 10.0], 5.0, min_n=2)
