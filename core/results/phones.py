"""Which phone measured which run, and how much of the spread is the phone's.

In a lab a configuration is measured on one phone of a pool (``shard``) or
on every phone (``replicate``).  :func:`phone_runs` reads, for a campaign,
every successful measured run with the phone that made it (the job's device
facts), so reports can break results down per phone.  :func:`variance_split`
separates device-to-device from run-to-run variation with a linear mixed
model (statsmodels ``MixedLM``, the phone as a random intercept): it tells a
team whether they measured "this phone model" or "this unit".
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence

from attrs import frozen

from pocketbench.core.results.store import Store

#: The metrics broken down per phone (generation first: the figure teams quote).
PHONE_METRICS = ("generation_tps", "prompt_tps")


@frozen
class PhoneRuns:
    """A configuration's successful measured runs on one phone."""

    config_key: str
    phone: str
    model: str
    values: Mapping[str, tuple[float, ...]]

    def summary(self, metric: str) -> tuple[int, float, float]:
        """(n, mean, sample sd) of ``metric`` (nan when it cannot be computed)."""
        v = self.values.get(metric, ())
        mean = statistics.fmean(v) if v else math.nan
        sd = statistics.stdev(v) if len(v) > 1 else math.nan
        return len(v), mean, sd


def phone_runs(store: Store, campaign: str) -> list[PhoneRuns]:
    """Every phone's successful measured runs of each configuration of ``campaign``."""
    rows = store.query(
        "SELECT j.config_key, j.facts, r.metrics FROM runs r JOIN jobs j ON r.job_id = j.id"
        " JOIN campaigns c ON j.campaign_id = c.id"
        " WHERE c.name = ? AND r.warmup = 0 AND r.ok = 1 ORDER BY j.id, r.idx",
        (campaign,),
    )
    grouped: dict[tuple[str, str], tuple[str, dict[str, list[float]]]] = {}
    for row in rows:
        key = row["config_key"]
        facts = _json(row["facts"])
        phone = str(facts.get("name") or "?")
        model = str(facts.get("model") or "")
        metrics = _json(row["metrics"])
        _, values = grouped.setdefault((key, phone), (model, {m: [] for m in PHONE_METRICS}))
        for m in PHONE_METRICS:
            value = metrics.get(m)
            if isinstance(value, (int, float)) and math.isfinite(value):
                values[m].append(float(value))
    return [
        PhoneRuns(key, phone, model, {m: tuple(v) for m, v in values.items()})
        for (key, phone), (model, values) in grouped.items()
    ]


def _json(text: str | None) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def replica_key(config_key: str) -> str:
    """A configuration's key without its device: the same configuration on every phone."""
    parts = config_key.split("|")
    if len(parts) > 3:
        parts[3] = "*"
    return "|".join(parts)


@frozen
class VarianceSplit:
    """Device-to-device against run-to-run variation of one configuration over a pool's phones."""

    phones: int
    runs: int
    mean: float
    #: Standard deviation between phones (random effect) and between runs on a phone (residual).
    phone_sd: float
    run_sd: float

    @property
    def phone_share(self) -> float:
        """The phone's share of the total variance (intraclass correlation), 0..1."""
        total = self.phone_sd**2 + self.run_sd**2
        return self.phone_sd**2 / total if total > 0 else math.nan


def variance_split(samples: Mapping[str, Sequence[float]]) -> VarianceSplit | None:
    """Fit ``value ~ 1 + (1 | phone)`` by REML; None with fewer than 2 phones of 2 runs each."""
    usable = {p: list(v) for p, v in samples.items() if len(v) >= 2}
    if len(usable) < 2:
        return None
    import warnings

    import numpy as np
    from statsmodels.regression.mixed_linear_model import MixedLM

    y = np.array([x for v in usable.values() for x in v])
    groups = np.array([p for p, v in usable.items() for _ in v])
    with warnings.catch_warnings():
        # A phone variance on the boundary (0: phones alike) is an answer, not a failure.
        warnings.simplefilter("ignore")
        fit = MixedLM(y, np.ones((len(y), 1)), groups).fit(reml=True)
    phone_var = max(0.0, float(np.asarray(fit.cov_re)[0, 0]))
    return VarianceSplit(
        phones=len(usable),
        runs=len(y),
        mean=float(fit.fe_params[0]),
        phone_sd=math.sqrt(phone_var),
        run_sd=math.sqrt(max(0.0, float(fit.scale))),
    )


#: The columns of :func:`split_row`: what varies by configuration in a pool's variance split.
SPLIT_HEADER = (
    "Configuration",
    "Phones",
    "Runs",
    "Generation (tokens/s)",
    "Phone-to-phone SD",
    "Run-to-run SD",
    "Phone's share",
    "Reading",
)
#: What every row of the split means, said once under the table.
SPLIT_NOTE = (
    "The variance split separates phone-to-phone SD from run-to-run SD of generation speed"
    " with a linear mixed model (statsmodels MixedLM, REML, the phone as a random effect);"
    " where the phone's share of the variance is half or more, the units differ and a team"
    " quotes per-phone figures, not one for the phone model."
)


def split_row(label: str, split: VarianceSplit) -> tuple[str, ...]:
    """A configuration's variance split as a row under :data:`SPLIT_HEADER`."""
    share = split.phone_share
    reading = (
        "the units differ: quote per-phone figures"
        if share >= 0.5
        else "the units agree: the figure stands for this phone model"
    )
    return (
        label,
        str(split.phones),
        str(split.runs),
        f"{split.mean:.2f}",
        f"{split.phone_sd:.3f}",
        f"{split.run_sd:.3f}",
        f"{100 * share:.0f}%" if math.isfinite(share) else "n/a",
        reading,
    )
