"""What a quality measurement is asked and what it answers (the ``pocketbench_quality`` hook).

One protocol for every runtime, so figures from two runtimes compare
(docs/method.md): the evaluation text is tokenized once, by the reference
configuration; it is cut into ``chunks`` windows of ``ctx`` tokens; each window
is evaluated from an empty cache; the next-token distributions at positions
``ctx/2 .. ctx-2`` are scored (they predict tokens ``ctx/2+1 .. ctx-1``), so
every scored position has at least ``ctx/2`` tokens of context.

The reference's distributions travel in llama.cpp's KL-divergence base file
(:mod:`pocketbench.core.kit.logprobs`): llama-perplexity writes and reads it,
and any other backend reads or writes the same file, so a configuration can be
compared with a reference from another framework.
"""

from __future__ import annotations

from pathlib import Path

from attrs import frozen

from pocketbench.core.api.errors import UsageError

#: Fewer scored positions than this make llama-perplexity print no statistics.
MIN_SCORED = 100


@frozen(kw_only=True)
class QualityProtocol:
    """How the evaluation text is cut and which positions are scored."""

    ctx: int = 256
    chunks: int = 8

    @property
    def first(self) -> int:
        """The first scored position of a window."""
        return self.ctx // 2

    @property
    def scored_per_chunk(self) -> int:
        return self.ctx - 1 - self.first

    @property
    def scored(self) -> int:
        return self.chunks * self.scored_per_chunk

    @property
    def tokens_needed(self) -> int:
        """Tokens the text must have: every window full (llama-perplexity also wants two)."""
        return self.ctx * max(self.chunks, 2)

    @property
    def key(self) -> str:
        """Identifies the protocol in cache keys and in the store."""
        return f"kl1-c{self.ctx}-n{self.chunks}"

    def check(self) -> None:
        """:raises UsageError: for a protocol that cannot give statistics."""
        if self.ctx < 16 or self.ctx % 2:
            raise UsageError(f"--quality-ctx {self.ctx}: give an even number of at least 16")
        if self.chunks < 1:
            raise UsageError(f"--quality-chunks {self.chunks}: give at least 1")
        if self.scored < MIN_SCORED:
            raise UsageError(
                f"{self.chunks} chunk(s) of {self.ctx} tokens score {self.scored} positions; "
                f"at least {MIN_SCORED} are needed: raise --quality-chunks or --quality-ctx"
            )

    def too_short(self, text: str, n_tokens: int) -> UsageError:
        """The one-line error for an evaluation text with too few tokens."""
        return UsageError(
            f"evaluation text {text} has {n_tokens} tokens; the quality protocol "
            f"({self.chunks} chunks of {self.ctx} tokens) needs at least {self.tokens_needed}: "
            "give a longer --eval-text or fewer --quality-chunks"
        )


@frozen(kw_only=True)
class QualityRequest:
    """What the core asks a backend to evaluate.

    With ``make_reference`` the backend tokenizes ``text``, evaluates it and
    writes ``reference`` (the base file); otherwise it reads the tokens and the
    reference's log-probabilities from ``reference`` and compares.
    """

    #: The evaluation text (UTF-8) on this host, and its sha256.
    text: Path
    text_sha256: str
    protocol: QualityProtocol
    reference: Path
    make_reference: bool
    #: The token that replaces each window's first token (a BOS), or None (the
    #: reference's tokenizer adds none); set when comparing with a reference.
    chunk_bos: int | None = None
    #: CPU threads for the evaluation on this host.
    threads: int = 2


@frozen(kw_only=True)
class QualityResult:
    """What one evaluation measured: means with their standard errors.

    Standard errors are those of the mean over scored positions (llama-perplexity's
    definitions); the core turns them into 95% intervals.  ``nll_*`` is the mean
    negative log-likelihood of the text's next tokens (ln perplexity).  For a
    reference run the comparison fields are None.
    """

    scored: int
    #: Tokens of the evaluation text (as the reference tokenized it).
    eval_tokens: int
    n_vocab: int
    nll_mean: float
    nll_se: float
    kl_mean: float | None = None
    kl_se: float | None = None
    kl_p99: float | None = None
    top1: float | None = None
    top1_se: float | None = None
    #: ln(PPL / PPL(reference)) and its standard error (positions paired).
    ln_ratio: float | None = None
    ln_ratio_se: float | None = None
    #: The reference's own mean negative log-likelihood on the same positions.
    nll_ref: float | None = None
    #: Written by a reference run: see :attr:`QualityRequest.chunk_bos`.
    chunk_bos: int | None = None
    #: How it was measured (tool and command), stored with the result.
    method: str = ""
