"""Statistics of measured runs (statsmodels); pure functions, no I/O.

Methods, chosen once and documented here so every report says the same:

- **Spread**: the sample standard deviation (``ddof=1``), the Galaxy A25
  study's "±".
- **Confidence interval of a mean**: every figure pocketbench measures is a
  positive quantity (a rate, a time, bytes), so the interval is computed on
  the log scale and never reaches zero or below: Cox's method for the mean
  of a log-normal sample, ``exp(ybar + s²/2 ± t·sqrt(s²/n + s⁴/(2(n-1))))``
  with ``y = log x``.  It is asymmetric (wider above the mean) and, for the
  tight spreads of repeated runs, within a fraction of a percent of
  Student's t interval.  Samples with a zero or negative value fall back to
  Student's t on the raw values.
- **Outliers**: Tukey's fences, values outside ``[Q1 - 1.5 IQR, Q3 + 1.5 IQR]``
  with quartiles by linear interpolation (numpy's default, R's type 7);
  only with 4 or more values.  Outliers are flagged and *kept*: a slow run
  on a phone is usually real (a background task, a thermal step) and
  dropping it would flatter the mean.
- **Trend (throttling)**: ordinary least squares of the values on the run
  index (statsmodels ``OLS``); a negative slope with p < alpha (default
  0.01: a report makes one such test per configuration and metric, and a
  false alarm costs a caveat) whose fitted drop over the runs is at least
  ``min_drop_pct`` (default 2%) of the fitted first value flags likely
  thermal throttling.
- **Two configurations**: Welch's unequal-variance t-test (statsmodels
  ``ttest_ind(usevar="unequal")``) and, across a table of tests, Holm's
  step-down correction (statsmodels ``multipletests``).
- **Speed-up ratio**: Fieller's interval for the ratio of two independent
  means with unequal variances, degrees of freedom by Welch-Satterthwaite
  evaluated at the point estimate.  Unlike the delta method it is not
  symmetric and stays valid when the denominator is uncertain; when the
  denominator's mean is not significantly different from zero the interval
  is unbounded and returned as ``(-inf, inf)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from attrs import frozen

#: Tukey's fence multiplier.
TUKEY_K = 1.5


@frozen(kw_only=True)
class Summary:
    """One metric of one configuration."""

    n: int
    mean: float
    #: Sample standard deviation (ddof=1): the Galaxy A25 study's "±".
    stdev: float
    #: Two-sided 95% confidence interval of the mean (log scale; see the module docstring).
    ci95: tuple[float, float]
    samples: tuple[float, ...] = ()
    #: Indices (into ``samples``) of values flagged as outliers; kept, not dropped.
    outliers: tuple[int, ...] = ()

    @property
    def half_width(self) -> float:
        return (self.ci95[1] - self.ci95[0]) / 2


def summarize(samples: Sequence[float], confidence: float = 0.95) -> Summary:
    """Mean, sample standard deviation, t confidence interval and Tukey outliers."""
    from statsmodels.stats.weightstats import DescrStatsW

    values = [float(v) for v in samples]
    n = len(values)
    if n == 0:
        nan = math.nan
        return Summary(n=0, mean=nan, stdev=nan, ci95=(nan, nan))
    if n == 1:
        return Summary(
            n=1, mean=values[0], stdev=math.nan, ci95=(math.nan, math.nan), samples=tuple(values)
        )
    d = DescrStatsW(values)
    sd = float(d.std_mean * math.sqrt(n))
    if sd == 0.0:
        low = high = float(d.mean)
    elif min(values) > 0:
        low, high = log_scale_interval(values, confidence)
    else:
        low, high = d.tconfint_mean(alpha=1 - confidence)
    return Summary(
        n=n,
        mean=float(d.mean),
        stdev=sd,
        ci95=(float(low), float(high)),
        samples=tuple(values),
        outliers=outliers(values),
    )


def summary_from_stats(n: int, mean: float, stdev: float, confidence: float = 0.95) -> Summary:
    """A Summary of a figure known only as mean ± sample sd over ``n`` runs (no samples).

    The interval is Student's t from the same three numbers, so it equals the
    one the samples would have given.
    """
    if n < 2 or not math.isfinite(stdev):
        # n = 0: the file did not say how many runs; the sd is shown, no interval claimed.
        sd = stdev if n == 0 else math.nan
        return Summary(n=n, mean=mean, stdev=sd, ci95=(math.nan, math.nan))
    from scipy import stats as sps

    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * stdev / math.sqrt(n)
    return Summary(n=n, mean=mean, stdev=stdev, ci95=(mean - half, mean + half))


def log_scale_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Cox's interval for the mean of positive values (log-normal); both ends above zero."""
    from scipy import stats as st

    logs = [math.log(v) for v in values]
    n = len(logs)
    ybar = sum(logs) / n
    s2 = sum((y - ybar) ** 2 for y in logs) / (n - 1)
    centre = ybar + s2 / 2
    se = math.sqrt(s2 / n + s2**2 / (2 * (n - 1)))
    t = float(st.t.ppf(0.5 + confidence / 2, n - 1))
    return math.exp(centre - t * se), math.exp(centre + t * se)


def outliers(samples: Sequence[float], k: float = TUKEY_K) -> tuple[int, ...]:
    """Indices of values outside Tukey's fences (needs at least 4 values)."""
    import numpy as np

    values = np.asarray(samples, dtype=float)
    if values.size < 4:
        return ()
    q1, q3 = np.percentile(values, [25, 75])
    iqr = q3 - q1
    low, high = q1 - k * iqr, q3 + k * iqr
    return tuple(int(i) for i in np.flatnonzero((values < low) | (values > high)))


def ci_within(
    samples: Sequence[float], pct: float, *, confidence: float = 0.95, min_n: int = 3
) -> bool:
    """Adaptive sampling's stop rule: is the CI half-width within ``pct``% of the mean?"""
    if len(samples) < max(2, min_n):
        return False
    s = summarize(samples, confidence)
    return bool(s.mean > 0 and s.half_width <= s.mean * pct / 100.0)


# -- trend across runs ----------------------------------------------------------


@frozen(kw_only=True)
class Trend:
    """Least-squares line of a metric against run index."""

    n: int
    #: Change per run, in the metric's unit.
    slope: float
    slope_ci: tuple[float, float]
    pvalue: float
    #: Fitted change from the first to the last run, % of the fitted first value.
    change_pct: float
    #: A significant fall large enough to matter: likely thermal throttling.
    throttling: bool


def trend(
    samples: Sequence[float],
    index: Sequence[float] | None = None,
    *,
    alpha: float = 0.01,
    min_drop_pct: float = 2.0,
) -> Trend:
    """OLS slope of ``samples`` against ``index`` (default 0, 1, 2, ...)."""
    import numpy as np

    y = np.asarray(samples, dtype=float)
    x = np.arange(y.size, dtype=float) if index is None else np.asarray(index, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"{x.size} run indices for {y.size} values")
    nan = math.nan
    if y.size < 3 or np.ptp(x) == 0:
        return Trend(
            n=int(y.size),
            slope=nan,
            slope_ci=(nan, nan),
            pvalue=nan,
            change_pct=nan,
            throttling=False,
        )
    from statsmodels.regression.linear_model import OLS

    design = np.column_stack([np.ones_like(x), x])
    with np.errstate(all="ignore"):
        fit = OLS(y, design).fit()
        slope = float(fit.params[1])
        if float(np.ptp(y - fit.fittedvalues)) == 0.0:
            # An exact line: no residual noise, the slope is certain.
            p = 0.0 if slope != 0 else 1.0
            ci = (slope, slope)
        else:
            p = float(fit.pvalues[1])
            low, high = fit.conf_int(alpha=0.05)[1]  # a 95% interval, whatever alpha
            ci = (float(low), float(high))
    first = float(fit.params[0] + slope * x.min())
    change = slope * float(np.ptp(x)) / first * 100 if first else nan
    throttling = bool(slope < 0 and p < alpha and -change >= min_drop_pct)
    return Trend(
        n=int(y.size),
        slope=slope,
        slope_ci=ci,
        pvalue=p,
        change_pct=float(change),
        throttling=throttling,
    )


# -- two configurations ---------------------------------------------------------


@frozen(kw_only=True)
class Welch:
    """Welch's unequal-variance t-test of mean(a) - mean(b)."""

    t: float
    df: float
    pvalue: float
    diff: float
    diff_ci: tuple[float, float]

    @property
    def testable(self) -> bool:
        return not math.isnan(self.pvalue)


def welch(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95) -> Welch:
    """Two-sided Welch test; nan when either side has fewer than 2 values."""
    import numpy as np

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    nan = math.nan
    if x.size < 2 or y.size < 2:
        diff = float(x.mean() - y.mean()) if x.size and y.size else nan
        return Welch(t=nan, df=nan, pvalue=nan, diff=diff, diff_ci=(nan, nan))
    diff = float(x.mean() - y.mean())
    if x.var(ddof=1) == 0 and y.var(ddof=1) == 0:
        # Two constant samples: the difference is exact.
        return Welch(
            t=nan,
            df=float(x.size + y.size - 2),
            pvalue=0.0 if diff else 1.0,
            diff=diff,
            diff_ci=(diff, diff),
        )
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttest_ind

    t, p, df = ttest_ind(x, y, alternative="two-sided", usevar="unequal")
    low, high = CompareMeans(DescrStatsW(x), DescrStatsW(y)).tconfint_diff(
        alpha=1 - confidence, usevar="unequal"
    )
    return Welch(
        t=float(t), df=float(df), pvalue=float(p), diff=diff, diff_ci=(float(low), float(high))
    )


def adjust_pvalues(
    pvalues: Sequence[float], *, method: str = "holm", alpha: float = 0.05
) -> tuple[list[float], list[bool]]:
    """Multiple-comparison correction (statsmodels ``multipletests``, Holm by default).

    Returns the adjusted p-values and which hypotheses are rejected at
    ``alpha``.  NaN p-values (untestable comparisons) stay NaN, are never
    rejected and do not count towards the family size.
    """
    from statsmodels.stats.multitest import multipletests

    ps = [float(p) for p in pvalues]
    valid = [i for i, p in enumerate(ps) if not math.isnan(p)]
    adjusted = [math.nan] * len(ps)
    reject = [False] * len(ps)
    if valid:
        rej, corrected, _, _ = multipletests([ps[i] for i in valid], alpha=alpha, method=method)
        for i, r, c in zip(valid, rej, corrected):
            adjusted[i] = float(c)
            reject[i] = bool(r)
    return adjusted, reject


@frozen(kw_only=True)
class Ratio:
    """mean(a) / mean(b) with its confidence interval (Fieller)."""

    estimate: float
    ci: tuple[float, float]

    @property
    def pct(self) -> float:
        """How much larger a is than b, in percent."""
        return (self.estimate - 1) * 100

    @property
    def pct_ci(self) -> tuple[float, float]:
        return ((self.ci[0] - 1) * 100, (self.ci[1] - 1) * 100)

    @property
    def bounded(self) -> bool:
        return all(math.isfinite(v) for v in self.ci)


def ratio(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95) -> Ratio:
    """Speed-up of ``a`` over ``b``: Fieller's interval for mean(a) / mean(b).

    The interval holds every rho for which Welch's statistic of
    mean(a) - rho * mean(b) is within the t quantile: the roots of
    (ma - rho mb)^2 = t^2 (va + rho^2 vb), with va, vb the squared standard
    errors of the means.
    """
    import numpy as np
    from scipy.stats import t as student_t

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    nan = math.nan
    if x.size == 0 or y.size == 0 or y.mean() == 0:
        return Ratio(estimate=nan, ci=(nan, nan))
    ma, mb = float(x.mean()), float(y.mean())
    r = ma / mb
    if x.size < 2 or y.size < 2:
        return Ratio(estimate=r, ci=(nan, nan))
    va = float(x.var(ddof=1)) / x.size
    vb = float(y.var(ddof=1)) / y.size
    if va == 0 and vb == 0:
        return Ratio(estimate=r, ci=(r, r))
    denom = va**2 / (x.size - 1) + r**4 * vb**2 / (y.size - 1)
    df = (va + r**2 * vb) ** 2 / denom
    tq = float(student_t.ppf(1 - (1 - confidence) / 2, df))
    a2 = mb**2 - tq**2 * vb
    if a2 <= 0:
        return Ratio(estimate=r, ci=(-math.inf, math.inf))
    disc = ma**2 * vb + mb**2 * va - tq**2 * va * vb
    root = tq * math.sqrt(max(disc, 0.0))
    low, high = (ma * mb - root) / a2, (ma * mb + root) / a2
    return Ratio(estimate=r, ci=(low, high))
