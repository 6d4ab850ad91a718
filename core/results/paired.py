"""Statistics that use an interleaved design: comparisons by round, and the device's drift.

Pure functions over (round, value) pairs and timed samples; no I/O.

- **Paired by round**: two configurations measured in the same rounds on
  the same device are compared through the per-round log ratio
  ``d_r = log a_r - log b_r``.  A pair is two runs of one round on one
  phone: a shard pool's configurations, or one resumed on another phone,
  carry the same round numbers on different phones, and a ratio across
  phones would measure the phones, not the configurations.  Its mean's
  Student t interval (n - 1 degrees of freedom), exponentiated, is the
  interval of the ratio of geometric means; the one-sample t-test of
  ``mean(d) = 0`` is the test.
  Whatever slows the device between rounds cancels in ``d_r``: both runs
  of a round saw the same device within one round's time.  What is left
  (which of the two ran first in the round) is random by the shuffled
  order, so it widens the interval instead of biasing it.  A mixed model
  with round as a random effect estimates the same contrast; with one run
  per configuration and round it reduces to this paired t, without its
  convergence and small-sample degrees-of-freedom questions
  (docs/method.md).
- **Drift**: ordinary least squares of ``log value`` on the configuration
  (a fixed effect per configuration) and the run's place in time on the
  device (its order among every measured run there).  The place's
  coefficient is the device's drift per run, shared by every
  configuration; exponentiated it is a percentage per run.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

from attrs import frozen

from pocketbench.core.results.report import ConfigReport, metric_values
from pocketbench.core.results.stats import Ratio, Welch

#: The drift that flags a slowing device: p below this and a fall of at least
#: MIN_DROP_PCT over the study (as the per-configuration trend test did).
DRIFT_ALPHA = 0.01
MIN_DROP_PCT = 2.0


@frozen(kw_only=True)
class Paired:
    """a / b compared by round: the test and the ratio's interval."""

    #: Rounds in which both configurations have a successful run.
    n: int
    test: Welch
    ratio: Ratio


def paired_by_round(
    a: Mapping[Hashable, float], b: Mapping[Hashable, float], *, confidence: float = 0.95
) -> Paired:
    """Compare ``a`` with ``b`` (round -> value, positive) through their per-round log ratios.

    A round is any key both share (:func:`by_round` keys it by phone and round).
    """
    from scipy import stats as st

    rounds = sorted(set(a) & set(b))
    d = [math.log(a[r]) - math.log(b[r]) for r in rounds if a[r] > 0 and b[r] > 0]
    n = len(d)
    nan = math.nan
    if n == 0:
        return Paired(
            n=0,
            test=Welch(t=nan, df=nan, pvalue=nan, diff=nan, diff_ci=(nan, nan)),
            ratio=Ratio(estimate=nan, ci=(nan, nan)),
        )
    mean = sum(d) / n
    diff = sum(a[r] - b[r] for r in rounds) / n
    if n < 2:
        return Paired(
            n=n,
            test=Welch(t=nan, df=nan, pvalue=nan, diff=diff, diff_ci=(nan, nan)),
            ratio=Ratio(estimate=math.exp(mean), ci=(nan, nan)),
        )
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    if sd == 0:
        exact = math.exp(mean)
        return Paired(
            n=n,
            test=Welch(
                t=nan, df=n - 1, pvalue=0.0 if mean else 1.0, diff=diff, diff_ci=(diff, diff)
            ),
            ratio=Ratio(estimate=exact, ci=(exact, exact)),
        )
    se = sd / math.sqrt(n)
    t = mean / se
    q = float(st.t.ppf(0.5 + confidence / 2, n - 1))
    p = float(2 * st.t.sf(abs(t), n - 1))
    return Paired(
        n=n,
        test=Welch(t=t, df=n - 1, pvalue=p, diff=diff, diff_ci=(nan, nan)),
        ratio=Ratio(estimate=math.exp(mean), ci=(math.exp(mean - q * se), math.exp(mean + q * se))),
    )


@frozen(kw_only=True)
class Drift:
    """The device's change in speed per run, across every configuration measured on it."""

    #: Measured runs and configurations in the model.
    n: int
    configurations: int
    #: Change per run, % (negative: slowing), with its 95% interval.
    pct_per_run: float
    pct_ci: tuple[float, float]
    pvalue: float
    #: Fitted change from the first to the last run, %.
    total_pct: float

    @property
    def slowing(self) -> bool:
        """A significant fall large enough to matter."""
        return (
            self.pct_per_run < 0 and self.pvalue < DRIFT_ALPHA and -self.total_pct >= MIN_DROP_PCT
        )


def drift(samples: Sequence[tuple[str, float, float]]) -> Drift | None:
    """Fit ``log value ~ configuration + place`` over (configuration, place in time, value).

    None when the model cannot be fitted (fewer than 3 runs beyond one
    parameter per configuration, or no spread in time within a configuration).
    """
    import numpy as np

    rows = [(c, float(t), float(v)) for c, t, v in samples if v > 0 and math.isfinite(v)]
    configs = sorted({c for c, _, _ in rows})
    k = len(configs)
    if k == 0 or len(rows) < k + 3:
        return None
    place = np.array([t for _, t, _ in rows])
    y = np.log([v for _, _, v in rows])
    dummies = np.array([[1.0 if c == name else 0.0 for name in configs] for c, _, _ in rows])
    design = np.column_stack([dummies, place])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        return None
    from statsmodels.regression.linear_model import OLS

    with np.errstate(all="ignore"):
        fit = OLS(y, design).fit()
        slope = float(fit.params[-1])
        if float(np.ptp(y - fit.fittedvalues)) == 0.0:
            p, low, high = (0.0 if slope else 1.0), slope, slope
        else:
            p = float(fit.pvalues[-1])
            low, high = (float(v) for v in fit.conf_int(alpha=0.05)[-1])
    span = float(np.ptp(place))
    return Drift(
        n=len(rows),
        configurations=k,
        pct_per_run=(math.exp(slope) - 1) * 100,
        pct_ci=((math.exp(low) - 1) * 100, (math.exp(high) - 1) * 100),
        pvalue=p,
        total_pct=(math.exp(slope * span) - 1) * 100,
    )


# -- from stored configurations ------------------------------------------------------


def by_round(config: ConfigReport, metric: str) -> dict[tuple[str, int], float]:
    """A configuration's successful runs of an interleaved campaign: (device, round) -> value.

    The device is the one that measured the run (a pool's phone), else the
    configuration's own.
    """
    out: dict[tuple[str, int], float] = {}
    for record in config.ok_runs:
        value = metric_values(record).get(metric)
        if record.round is not None and value is not None:
            device = config.run_devices.get(record.index, config.device)
            out[(device, record.round)] = value
    return out


def compare_by_round(a: ConfigReport, b: ConfigReport, metric: str) -> Paired | None:
    """``a`` against ``b`` paired by round, when both ran in at least 2 common rounds of one device.

    Only runs of the same round on the same phone pair up.  None otherwise
    (runs made in sequence, on different devices, or in a pool's rounds on
    different phones): the caller compares the two samples as independent
    (Welch, Fieller).
    """
    if a.device != b.device or a.campaign != b.campaign:
        return None
    ra, rb = by_round(a, metric), by_round(b, metric)
    if len(set(ra) & set(rb)) < 2:
        return None
    return paired_by_round(ra, rb)


def device_drift(
    configs: Sequence[ConfigReport],
    places: Mapping[tuple[str, int], int],
    metric: str = "generation_tps",
) -> Drift | None:
    """The drift of one device over its configurations' runs (``places``: see ``Store.run_places``)."""
    samples = []
    for config in configs:
        for record in config.ok_runs:
            value = metric_values(record).get(metric)
            place = places.get((config.config_key, record.index))
            if value is not None and place is not None:
                samples.append((config.config_key, float(place), value))
    return drift(samples)
