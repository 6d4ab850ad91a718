"""Every token's time: per-token latency of one run, from the launcher's stdout arrival times.

The run's launcher (on this host :mod:`pocketbench.core.devices.spawn`)
notes when each piece of the runtime's stdout arrives.  A runtime that
writes and flushes each token as it makes it gives one piece per token, so
the gaps between the last ``G`` pieces are its ``G - 1`` decode steps.
Nothing here trusts that blindly:

- fewer pieces than generated tokens: the runtime buffers its output (or
  prints nothing for some tokens); no per-token figures are kept, only the
  reason (:attr:`TokenLatency.declined`);
- the consistency check: the sum of the gaps against the runtime's own
  decode time, and 1 / median gap against its generation rate; more than
  :data:`TOLERANCE` apart, the figures are kept but marked unreliable with
  the reason (:attr:`TokenLatency.unreliable`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
from attrs import field, frozen

#: How far apart the per-token figures and the runtime's own may be (relative).
TOLERANCE = 0.05
#: A stall is a gap longer than this many times the run's median gap.
STALL_FACTOR = 3.0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@frozen(kw_only=True)
class TokenLatency:
    """The decode steps of one run as the launcher saw them.

    ``steps_us`` holds every decode-step time (the gap between two
    consecutive generated tokens reaching the launcher) in whole
    microseconds; the percentiles, longest gap and stalls are computed from
    it, so what is stored is the measurement itself.
    """

    steps_us: tuple[int, ...] = field(factory=tuple, converter=tuple)
    #: Why these figures disagree with the runtime's own ("" when they agree).
    unreliable: str = ""
    #: Why no per-token figures were taken ("" when they were).
    declined: str = ""

    @property
    def steps_ms(self) -> list[float]:
        return [s / 1000.0 for s in self.steps_us]

    @property
    def usable(self) -> bool:
        """Figures that were taken and agree with the runtime's own."""
        return bool(self.steps_us) and not self.unreliable and not self.declined

    def tpot_ms(self, q: float) -> float:
        """Time per output token at percentile ``q``."""
        return percentile(self.steps_ms, q)

    @property
    def max_gap_ms(self) -> float:
        return max(self.steps_ms) if self.steps_us else math.nan

    @property
    def stalls(self) -> int:
        """Gaps longer than :data:`STALL_FACTOR` times the run's median."""
        median = self.tpot_ms(50)
        return sum(1 for s in self.steps_ms if s > STALL_FACTOR * median)

    def summary(self) -> dict[str, float | int]:
        """The figures reports carry (``latency`` in JSON)."""
        return {
            "tpot_p50_ms": self.tpot_ms(50),
            "tpot_p90_ms": self.tpot_ms(90),
            "tpot_p99_ms": self.tpot_ms(99),
            "max_gap_ms": self.max_gap_ms,
            "stalls": self.stalls,
        }


def measure(
    arrivals: Sequence[tuple[float, int]],
    *,
    gen_tokens: int,
    generation_tps: float,
    stdout_end: int | None = None,
) -> TokenLatency:
    """The per-token figures of one run and their consistency check.

    :param arrivals: (ms since start, stdout bytes so far) per piece read.
    :param gen_tokens: G, the new tokens the runtime reports; its G - 1
        decode steps are the gaps between the last G pieces.
    :param generation_tps: the runtime's own rate, (G - 1) / decode time.
    :param stdout_end: bytes from this stdout offset on are the runtime's
        report after generation, not tokens (None: all are tokens).  A piece
        that starts before it holds a token, even when the report's first
        bytes were read with it: the last token and the report often arrive
        in one read.
    """
    starts = [0, *(end for _, end in arrivals[:-1])]
    pieces = [
        t for (t, _), start in zip(arrivals, starts) if stdout_end is None or start < stdout_end
    ]
    if gen_tokens < 3:
        return TokenLatency(declined=f"{gen_tokens} new tokens are too few for per-token times")
    if len(pieces) < gen_tokens:
        return TokenLatency(
            declined=(
                f"the runtime wrote its output in {len(pieces)}"
                f" piece{'s' if len(pieces) != 1 else ''} for {gen_tokens} tokens:"
                " it buffers its output, prints nothing for some tokens, or the launcher was"
                " too late to see two of them apart"
            )
        )
    times = pieces[-gen_tokens:]
    steps = [b - a for a, b in zip(times, times[1:])]
    latency = TokenLatency(steps_us=tuple(round(s * 1000) for s in steps))
    return attrs.evolve(latency, unreliable=_disagreement(latency, steps, generation_tps))


def _disagreement(latency: TokenLatency, steps: list[float], generation_tps: float) -> str:
    """Why the figures disagree with the runtime's own by more than TOLERANCE ("" if not)."""
    if generation_tps <= 0:
        return "the runtime reported no generation rate to check the per-token times against"
    own_ms = len(steps) / generation_tps * 1000.0
    total = sum(steps)
    reasons = []
    if abs(total - own_ms) > TOLERANCE * own_ms:
        reasons.append(
            f"the gaps add up to {total:.1f} ms against the runtime's decode time {own_ms:.1f} ms"
        )
    median = latency.tpot_ms(50)
    rate = 1000.0 / median if median > 0 else math.inf
    if abs(rate - generation_tps) > TOLERANCE * generation_tps:
        reasons.append(
            f"1 / median gap is {rate:.1f} tokens/s against the runtime's {generation_tps:.1f}"
        )
    return "; ".join(reasons)
