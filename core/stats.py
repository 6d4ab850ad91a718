"""Statistics of measured runs (statsmodels); pure functions, no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence

from attrs import frozen


@frozen(kw_only=True)
class Summary:
    """One metric of one configuration."""

    n: int
    mean: float
    #: Sample standard deviation (ddof=1): the seed document's "±".
    stdev: float
    #: Two-sided 95% confidence interval of the mean (Student's t).
    ci95: tuple[float, float]
    samples: tuple[float, ...] = ()
    #: Indices (into ``samples``) of values flagged as outliers; kept, not dropped.
    outliers: tuple[int, ...] = ()

    @property
    def half_width(self) -> float:
        return (self.ci95[1] - self.ci95[0]) / 2


def summarize(samples: Sequence[float], confidence: float = 0.95) -> Summary:
    """Mean, sample standard deviation and t confidence interval."""
    from statsmodels.stats.weightstats import DescrStatsW

    values = [float(v) for v in samples]
    n = len(values)
    if n == 0:
        nan = math.nan
        return Summary(n=0, mean=nan, stdev=nan, ci95=(nan, nan))
    if n == 1:
        return Summary(n=1, mean=values[0], stdev=math.nan, ci95=(math.nan, math.nan), samples=tuple(values))
    d = DescrStatsW(values)
    low, high = d.tconfint_mean(alpha=1 - confidence)
    return Summary(
        n=n,
        mean=float(d.mean),
        stdev=float(d.std_mean * math.sqrt(n)),
        ci95=(float(low), float(high)),
        samples=tuple(values),
    )
