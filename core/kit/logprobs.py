"""llama.cpp's KL-divergence base file, read and written in Python, and scoring against it.

``llama-perplexity --kl-divergence-base FILE`` writes::

    "_logits_"  uint32 n_ctx  int32 n_vocab  int32 n_chunk  int32 tokens[n_chunk * n_ctx]
    then per chunk, per scored position (n_ctx - 1 - n_ctx/2 of them):
        float32 scale, float32 min_log_prob, 2 x uint16 padding,
        uint16 q[n_vocab rounded up to even]:  log p_i = scale * q_i + min_log_prob

Log-probabilities more than 16 nats below the largest are stored as the
floor.  A backend that is not llama.cpp writes the same file from its logits
(:func:`encode_rows`) and compares its logits with one (:func:`score`) by the
same arithmetic llama-perplexity uses, so every backend's figures mean the same.
numpy is imported here only: the module is loaded when quality is measured.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from attrs import frozen

from pocketbench.core.api.errors import SetupError

MAGIC = b"_logits_"


def row_width(n_vocab: int) -> int:
    """uint16 slots per scored position (4 slots hold the two floats)."""
    return 2 * ((n_vocab + 1) // 2) + 4


@frozen(kw_only=True)
class BaseHeader:
    """The header of a base file."""

    n_ctx: int
    n_vocab: int
    n_chunk: int
    #: Offset of the first chunk's rows.
    data_offset: int

    @property
    def scored_per_chunk(self) -> int:
        return self.n_ctx - 1 - self.n_ctx // 2


def read_header(path: Path) -> tuple[BaseHeader, list[int]]:
    """(header, tokens) of a base file; SetupError when it is not one or is cut short."""
    try:
        with open(path, "rb") as f:
            if f.read(8) != MAGIC:
                raise SetupError(f"{path} is not a llama.cpp log-probability (KL base) file")
            raw = f.read(12)
            if len(raw) != 12:
                raise SetupError(f"{path}: truncated reference file")
            n_ctx, n_vocab, n_chunk = struct.unpack("<Iii", raw)
            if not (0 < n_ctx < 1 << 20 and 0 < n_vocab < 1 << 24 and 0 < n_chunk < 1 << 16):
                raise SetupError(f"{path}: implausible reference header")
            tok = f.read(4 * n_ctx * n_chunk)
            if len(tok) != 4 * n_ctx * n_chunk:
                raise SetupError(f"{path}: truncated reference file (tokens)")
            tokens = list(struct.unpack(f"<{n_ctx * n_chunk}i", tok))
            header = BaseHeader(n_ctx=n_ctx, n_vocab=n_vocab, n_chunk=n_chunk, data_offset=f.tell())
    except OSError as exc:
        raise SetupError(f"cannot read reference file {path}: {exc.strerror or exc}") from None
    expected = (
        header.data_offset + header.n_chunk * header.scored_per_chunk * row_width(n_vocab) * 2
    )
    if path.stat().st_size != expected:
        raise SetupError(
            f"{path}: {path.stat().st_size} bytes, a complete reference file has {expected}"
        )
    return header, tokens


def write_header(f: BinaryIO, n_ctx: int, n_vocab: int, tokens: list[int]) -> None:
    n_chunk = len(tokens) // n_ctx
    f.write(MAGIC + struct.pack("<Iii", n_ctx, n_vocab, n_chunk))
    f.write(struct.pack(f"<{n_chunk * n_ctx}i", *tokens[: n_chunk * n_ctx]))


def log_softmax(logits: Any) -> Any:
    """Row-wise log-softmax in float64 (``logits``: positions x vocab)."""
    import numpy as np

    x = np.asarray(logits, dtype=np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def encode_rows(logits: Any) -> bytes:
    """Scored positions' logits (positions x vocab) as base-file rows (llama.cpp's rounding)."""
    import numpy as np

    x = np.asarray(logits, dtype=np.float32)
    n, n_vocab = x.shape
    width = row_width(n_vocab)
    out = np.zeros((n, width), dtype=np.uint16)
    max_logit = x.max(axis=1)
    min_logit = np.maximum(x.min(axis=1), max_logit - 16)
    log_sum_exp = np.log(np.exp((x - max_logit[:, None]).astype(np.float64)).sum(axis=1))
    min_log_prob = (min_logit - max_logit - log_sum_exp).astype(np.float32)
    scale = ((max_logit - min_logit) / np.float32(65535)).astype(np.float32)
    head = np.zeros((n, 2), dtype=np.float32)
    head[:, 0], head[:, 1] = scale, min_log_prob
    out[:, :4] = head.view(np.uint16)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(
            x > min_logit[:, None],
            np.rint((x - min_logit[:, None]) / np.where(scale > 0, scale, 1)[:, None]),
            0,
        )
    q[scale == 0] = 0
    out[:, 4 : 4 + n_vocab] = np.clip(q, 0, 65535).astype(np.uint16)
    return out.tobytes()


def iter_chunks(path: Path, header: BaseHeader) -> Iterator[Any]:
    """Each chunk's reference log-probabilities (scored positions x vocab, float64)."""
    import numpy as np

    width = row_width(header.n_vocab)
    rows = header.scored_per_chunk
    with open(path, "rb") as f:
        f.seek(header.data_offset)
        for _ in range(header.n_chunk):
            block = np.frombuffer(f.read(rows * width * 2), dtype=np.uint16).reshape(rows, width)
            head = block[:, :4].copy().view(np.float32)
            scale, floor = head[:, 0].astype(np.float64), head[:, 1].astype(np.float64)
            q = block[:, 4 : 4 + header.n_vocab].astype(np.float64)
            yield scale[:, None] * q + floor[:, None]


@frozen(kw_only=True)
class PositionScores:
    """Per scored position: KL(ref || this), same argmax, and both negative log-likelihoods."""

    kl: Any
    same_top: Any
    nll: Any
    nll_ref: Any


def score(ref_logp: Any, logits: Any, targets: Any) -> PositionScores:
    """Compare logits with reference log-probabilities, as llama-perplexity does.

    KL sums ``p_ref * (log p_ref - log q)`` over tokens whose reference
    log-probability is above -16 (the stored floor); the argmax of the
    reference is taken on its stored values.
    """
    import numpy as np

    logq = log_softmax(logits)
    p = np.exp(ref_logp)
    mask = ref_logp > -16.0
    kl = np.where(mask, p * (ref_logp - logq), 0.0).sum(axis=1)
    rows = np.arange(len(targets))
    return PositionScores(
        kl=kl,
        same_top=(np.argmax(logq, axis=1) == np.argmax(ref_logp, axis=1)).astype(np.float64),
        nll=-logq[rows, targets],
        nll_ref=-ref_logp[rows, targets],
    )


def mean_se(values: Any) -> tuple[float, float]:
    """Mean and standard error of the mean (llama-perplexity's ``mean_and_uncertainty``)."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n == 0:
        return float("nan"), float("nan")
    mean = float(v.mean())
    var = float((v * v).mean() - mean * mean)
    return mean, (var / (n - 1)) ** 0.5 if var > 0 and n > 10 else 0.0


def percentile(values: Any, fraction: float) -> float:
    """llama-perplexity's percentile (linear between sorted neighbours)."""
    import numpy as np

    v = np.sort(np.asarray(values, dtype=np.float64))
    p = fraction * (len(v) - 1)
    i = int(p)
    return float((1 - (p - i)) * v[i] + (p - i) * v[min(i + 1, len(v) - 1)])
