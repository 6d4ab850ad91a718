"""Tokenizers for ExecuTorch models: a synthetic one for presets, and exact-length prompts.

The synthetic tokenizer is a tiktoken file (lines ``base64(bytes) rank``), the
format of Meta's Llama-3 ``tokenizer.model``.  The ExecuTorch runners append
256 Llama-3 special tokens after the ranks, so a file with ``vocab_size - 256``
ranks gives exactly the model's vocabulary: every id the model can emit
decodes.  Regular tokens are ASCII only, because the runner hands every
decoded piece to a callback that needs valid UTF-8.

Prompts are counted with ``pytorch_tokenizers``, the same C++ tokenizer code
the runners link, so "exactly N prompt tokens" holds on the host and on a phone.
"""

from __future__ import annotations

import base64
import itertools
import os
import string
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pocketbench.plugin import SetupError

#: Special tokens the runners append after the ranks of a tiktoken file.
N_SPECIAL = 256
#: Offsets of Llama-3's special tokens from the first special id.
BOS_OFFSET = 0
EOS_OFFSET = 1
#: Text the synthetic prompt is cut from when the workload gives none.
NEUTRAL_TEXT = (
    "The committee met on a quiet morning to review the plans for the new library, "
    "and each member read the notes aloud before the vote was taken. "
    "After a short break they walked through the garden and talked about the weather, "
    "the price of bread, the river and the small boats that carry fruit to the market. "
)


def synthetic_ranks(n_ranks: int) -> Iterator[bytes]:
    """``n_ranks`` distinct ASCII tokens, every multi-byte one reachable by merges.

    The 128 ASCII bytes come first (so any ASCII text encodes), then words
    made of a space and lowercase letters in breadth-first order, so every
    word's prefixes are tokens too.
    """
    if n_ranks < 128:
        raise ValueError(f"a tiktoken vocabulary needs at least 128 ranks, got {n_ranks}")
    count = 0
    for b in range(128):
        yield bytes([b])
        count += 1
    for length in itertools.count(1):
        for letters in itertools.product(string.ascii_lowercase, repeat=length):
            if count == n_ranks:
                return
            yield (" " + "".join(letters)).encode()
            count += 1


def write_synthetic_tiktoken(path: Path, vocab_size: int) -> tuple[int, int]:
    """Write a tiktoken file for a model with ``vocab_size`` ids.

    :return: (bos id, eos id) as the runners will assign them.
    """
    n_ranks = vocab_size - N_SPECIAL
    lines = (
        f"{base64.b64encode(tok).decode()} {rank}\n"
        for rank, tok in enumerate(synthetic_ranks(n_ranks))
    )
    path.write_text("".join(lines), encoding="ascii")
    return n_ranks + BOS_OFFSET, n_ranks + EOS_OFFSET


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the C++ tokenizer's log lines (printed straight to fd 2)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class Tokenizer:
    """A tokenizer file loaded the way the ExecuTorch runners load it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            with _quiet_stderr():
                import pytorch_tokenizers as pt
        except ImportError as exc:  # pragma: no cover - part of the executorch extra
            raise SetupError(
                f"pytorch_tokenizers is missing ({exc}); install the executorch extra"
            ) from exc
        # The runners try these formats in this order (llm_runner_helper.cpp).
        candidates = [pt.CppHFTokenizer, pt.CppTiktoken, pt.CppSPTokenizer, pt.CppLlama2cTokenizer]
        if self.path.suffix != ".json":
            candidates = candidates[1:]
        self._tok = None
        with _quiet_stderr():
            for cls in candidates:
                tok = cls()
                try:
                    tok.load(str(self.path))
                except Exception:  # noqa: BLE001 - each binding raises its own error type
                    continue
                if tok.is_loaded():
                    self._tok = tok
                    self.kind = cls.__name__
                    break
        if self._tok is None:
            raise SetupError(
                f"{self.path}: not a tokenizer ExecuTorch can read "
                "(tiktoken, HF tokenizer.json, SentencePiece or llama2.c .bin)"
            )

    @property
    def vocab_size(self) -> int:
        return int(self._tok.vocab_size())

    @property
    def bos(self) -> int:
        return int(self._tok.bos_tok())

    def encode(self, text: str, bos: int = 0) -> list[int]:
        with _quiet_stderr():
            try:
                return list(self._tok.encode(text, bos, 0))
            except Exception as exc:  # noqa: BLE001 - the binding's own error type
                raise SetupError(f"{self.path.name} cannot encode the prompt text: {exc}") from exc

    def count(self, text: str, bos: int) -> int:
        return len(self.encode(text, bos))


def _ascii(text: str) -> str:
    import unicodedata

    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return folded if folded.strip() else NEUTRAL_TEXT


def exact_prompt(
    tok: Tokenizer, n_tokens: int, text: str | None, *, bos: int, ascii_only: bool
) -> str:
    """Text that encodes to exactly ``n_tokens`` tokens (``bos`` BOS tokens included).

    The text is cut from ``text`` (repeated when it is too short) or from a
    neutral passage.  The token count of a prefix grows with its length
    almost monotonically, so a binary search finds the cut; when no cut is
    exact (a merge skips a count), single-token words are appended.
    """
    want = n_tokens
    if want < bos + 1:
        raise SetupError(f"a prompt needs at least {bos + 1} tokens here, got {n_tokens}")
    source = text if text else NEUTRAL_TEXT
    if ascii_only:
        source = _ascii(source)
    # Repeat the source until it holds enough tokens.
    body = source
    while tok.count(body, bos) < want:
        body = body + " " + source
        if len(body) > 64 * want + 10_000:
            raise SetupError("the prompt text does not grow in tokens; give a longer prompt")
    lo, hi = 1, len(body)  # count(body[:hi]) >= want
    while lo < hi:
        mid = (lo + hi) // 2
        if tok.count(body[:mid], bos) >= want:
            hi = mid
        else:
            lo = mid + 1
    cut = body[:lo]
    if tok.count(cut, bos) == want:
        return cut
    # Step back to the longest prefix below the target, then pad.
    while cut and tok.count(cut, bos) >= want:
        cut = cut[:-1]
    for pad in (" a", " the", " x", ".", " "):
        padded = cut
        for _ in range(want):
            if tok.count(padded, bos) >= want:
                break
            padded += pad
        if tok.count(padded, bos) == want:
            return padded
    raise SetupError(f"cannot make a prompt of exactly {n_tokens} tokens with {tok.path}")
