"""What a backend hands back when it recognises a file of results a user already has.

``bench import`` reads a file and asks each backend's ``pocketbench_import``
hook whether it knows the format.  The backend that does returns
:class:`ImportedResults`; the core stores it (:mod:`pocketbench.core.results.imports`).
Format knowledge lives in the backends, storage in the core, and these
classes are the contract between them.

Honesty rules every importer follows:

- a figure the file holds per repetition becomes one :class:`ImportedRun`
  per repetition; a file that holds only mean ± sd gives an
  :class:`ImportedSummary`, never invented samples;
- an impossible value (negative, non-finite, a count that contradicts the
  workload) is never a figure: the run is kept with ``error`` naming the
  field, or the whole import fails with :class:`ImportFormatError`;
- nothing about warm-ups is claimed: imported runs carry no warm-up
  information.
"""

from __future__ import annotations

import math

from attrs import field, frozen

from pocketbench.core.api.errors import UsageError
from pocketbench.core.api.model import DeviceFacts, Metrics


class ImportFormatError(UsageError):
    """A file a backend recognised but cannot import; ``line`` is 1-based (0: the whole file).

    The core prefixes the file name, so the user reads ``FILE:LINE: message``.
    """

    def __init__(self, message: str, *, line: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.reason = message


@frozen(kw_only=True)
class ImportedRun:
    """One repetition as the file recorded it.

    ``metrics`` holds what was measured (rates the file does not hold are
    NaN and are left out of every statistic).  A repetition whose values
    are impossible has ``metrics=None`` and ``error`` naming the field.
    """

    metrics: Metrics | None
    #: The text the run was read from (a table row, a JSON object, a log block).
    source: str
    #: 1-based line of ``source`` in the file.
    line: int
    error: str | None = None
    #: Seconds the repetition took, when the file says.
    wall_s: float = 0.0


@frozen(kw_only=True)
class ImportedSummary:
    """A metric the file holds only as mean ± sample standard deviation over ``n`` repetitions.

    ``n`` is 0 when the file does not say how many repetitions there were
    (llama-bench's md, csv and sql output): the mean and sd are shown, no
    confidence interval is claimed.
    """

    metric: str
    n: int
    mean: float
    stdev: float
    line: int = 0

    def __attrs_post_init__(self) -> None:
        if not (math.isfinite(self.mean) and self.mean > 0 and self.n >= 0):
            raise ImportFormatError(
                f"{self.metric} = {self.mean:g} is impossible",
                line=self.line,
            )
        if not (math.isnan(self.stdev) or (math.isfinite(self.stdev) and self.stdev >= 0)):
            raise ImportFormatError(
                f"standard deviation of {self.metric} = {self.stdev:g} is impossible",
                line=self.line,
            )


@frozen(kw_only=True)
class ImportedConfig:
    """One configuration read from a file: what ran, where, and its runs or summaries.

    Workload fields the file does not state are None; ``bench import
    --prompt-tokens/--gen-tokens/--threads`` fill them, or the import
    stops and says which is missing.
    """

    backend: str
    #: The backend's scheme name when it has one ("q4_0"), else the file's own name.
    quant: str
    #: Model as the file names it (file name or description).
    model: str
    prompt_tokens: int | None
    gen_tokens: int | None
    threads: int | None
    #: Build, tool, model file, and how the figures pair up ("what the file says").
    describe: dict[str, str] = field(factory=dict)
    #: What the file says about the device (its ``name`` is replaced by ``--device-label``).
    facts: DeviceFacts | None = None
    #: Settings that change what is measured (e.g. the decode depth); part of the identity.
    options: dict[str, str] = field(factory=dict)
    runs: tuple[ImportedRun, ...] = ()
    summaries: tuple[ImportedSummary, ...] = ()
    #: 1-based line where the configuration starts in the file.
    line: int = 0


@frozen(kw_only=True)
class ImportedResults:
    """Everything one file holds, as one backend read it."""

    #: The format detected, e.g. "llama-bench json", "llama.cpp log", "llama_main log".
    format: str
    configs: tuple[ImportedConfig, ...]
