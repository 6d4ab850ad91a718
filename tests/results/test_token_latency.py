"""Every token's time: what a run's stdout arrival times become, and when they are refused."""

from __future__ import annotations

import pytest

from pocketbench.core.api.tokentimes import TokenLatency, measure


def arrivals(gaps_ms: list[float], start: float = 100.0) -> list[tuple[float, int]]:
    """Pieces of 4 bytes each arriving ``gaps_ms`` apart after a first one at ``start``."""
    out, t = [(start, 4)], start
    for i, gap in enumerate(gaps_ms):
        t += gap
        out.append((t, 4 * (i + 2)))
    return out


def test_steady_tokens_give_their_gaps_and_agree_with_the_runtime() -> None:
    # 16 tokens 5 ms apart: 15 decode steps, 200 tokens/s.
    latency = measure(arrivals([5.0] * 15), gen_tokens=16, generation_tps=200.0)
    assert latency.usable
    assert latency.steps_us == (5000,) * 15
    assert latency.summary() == {
        "tpot_p50_ms": 5.0,
        "tpot_p90_ms": 5.0,
        "tpot_p99_ms": 5.0,
        "max_gap_ms": 5.0,
        "stalls": 0,
    }


def test_a_stall_is_counted_and_is_the_longest_gap() -> None:
    gaps = [5.0] * 30 + [25.0] + [5.0] * 30
    own_rate = len(gaps) / sum(gaps) * 1000  # the runtime saw the same decode time
    latency = measure(arrivals(gaps), gen_tokens=len(gaps) + 1, generation_tps=own_rate)
    assert latency.stalls == 1 and latency.max_gap_ms == 25.0
    assert latency.tpot_ms(50) == 5.0 and latency.tpot_ms(99) > latency.tpot_ms(90)
    # the mean (the runtime's rate) and the median (1 / TPOT p50) are 6% apart here
    assert "1 / median gap" in latency.unreliable


def test_only_the_last_pieces_are_tokens() -> None:
    # An echo of the prompt long before generation is not a decode step.
    pieces = [(1.0, 500), *arrivals([5.0] * 7, start=300.0)]
    latency = measure(pieces, gen_tokens=8, generation_tps=200.0)
    assert latency.steps_us == (5000,) * 7 and latency.usable


def test_a_runtime_that_buffers_is_declined_not_measured() -> None:
    # 64 tokens in two writes: no per-token figure can be honest.
    latency = measure([(50.0, 4096), (51.0, 4200)], gen_tokens=64, generation_tps=200.0)
    assert not latency.usable and latency.steps_us == ()
    assert "2 pieces for 64 tokens" in latency.declined


def test_figures_that_disagree_with_the_runtime_are_marked_unreliable() -> None:
    # Gaps of 5 ms but the runtime says 100 tokens/s (10 ms per step).
    latency = measure(arrivals([5.0] * 15), gen_tokens=16, generation_tps=100.0)
    assert not latency.usable and latency.steps_us  # kept, but not summarised
    assert "add up to 75.0 ms against the runtime's decode time 150.0 ms" in latency.unreliable


def test_report_text_stops_at_the_given_offset() -> None:
    # ExecuTorch's runner prints its PyTorchObserver line after the tokens.
    pieces = [*arrivals([5.0] * 7), (200.0, 400)]
    latency = measure(pieces, gen_tokens=8, generation_tps=200.0, stdout_end=32)
    assert latency.steps_us == (5000,) * 7


def test_the_last_token_read_together_with_the_report_is_still_a_token() -> None:
    # llama-completion's last token and its closing blank line arrive in one read:
    # 8 tokens of 4 bytes, the last piece 4 token bytes + 2 report bytes.
    pieces = [*arrivals([5.0] * 6), (135.0, 34)]
    latency = measure(pieces, gen_tokens=8, generation_tps=200.0, stdout_end=32)
    assert not latency.declined
    assert latency.steps_us == (5000,) * 7 and latency.usable


@pytest.mark.parametrize("q", [50, 90, 99])
def test_percentiles_interpolate_like_numpy(q: int) -> None:
    import numpy as np

    steps = (1000, 2000, 3000, 10000, 4000)
    latency = TokenLatency(steps_us=steps)
    assert latency.tpot_ms(q) == pytest.approx(float(np.percentile(np.array(steps) / 1000, q)))


def test_stored_and_read_back_through_the_converter() -> None:
    from pocketbench.core.api.model import Metrics
    from pocketbench.core.kit.convert import dumps, loads

    m = Metrics(
        prompt_tokens=8, gen_tokens=16, prompt_tps=1.0, generation_tps=200.0, total_tps=1.0,
        latency=measure(arrivals([5.0] * 15), gen_tokens=16, generation_tps=200.0),
    )  # fmt: skip
    assert loads(dumps(m), Metrics) == m
