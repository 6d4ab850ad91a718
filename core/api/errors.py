"""Expected failures: one readable line and an exit code, never a traceback."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit codes of ``bench`` (documented in ``bench --help``)."""

    OK = 0
    #: Some measured runs failed (crash, timeout, unparseable output); the rest are stored.
    RUNS_FAILED = 1
    #: Bad input: unknown backend/quant/device/reporter, bad option value, bad study file.
    USAGE = 2
    #: Preparing failed: missing model, runtime not installed or not buildable, export failed.
    SETUP = 3
    #: The device is missing, ambiguous, unauthorized, or disappeared.
    DEVICE = 4
    #: The results database cannot be opened or written.
    STORE = 5
    #: The device or configuration is being measured by another process (``--no-wait``).
    BUSY = 6
    #: Standard output is closed or cannot be written (closed pipe, full disk).
    OUTPUT = 7
    #: Stopped by SIGHUP (128 + 1: the terminal closed); the runtime is stopped, runs kept.
    HANGUP = 129
    #: Interrupted by the user (Ctrl-C, 128 + 2); what was measured is stored.
    INTERRUPTED = 130
    #: Stopped by SIGTERM (128 + 15: a service stop); the runtime is stopped, runs kept.
    TERMINATED = 143


class PocketbenchError(Exception):
    """An expected failure with a message that says what is wrong and what to do."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(PocketbenchError):
    exit_code = ExitCode.USAGE


class SetupError(PocketbenchError):
    """``prepare`` could not make the runtime or the model ready."""

    exit_code = ExitCode.SETUP


class DeviceError(PocketbenchError):
    exit_code = ExitCode.DEVICE


class StoreError(PocketbenchError):
    exit_code = ExitCode.STORE


class ParseError(Exception):
    """A runner's output has no usable figures (raised by ``parse`` hooks)."""


def unknown_choice(
    kind: str, name: str, choices: list[str] | tuple[str, ...], where: str = ""
) -> UsageError:
    """``Unknown backend 'x'. Choose one of: a, b.`` (``where``: " for backend 'y'")."""
    listed = ", ".join(sorted(choices)) if choices else "(none)"
    return UsageError(f"Unknown {kind} {name!r}{where}. Choose one of: {listed}.")
