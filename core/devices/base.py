"""The one interface backends use to talk to a device."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from attrs import frozen

from pocketbench.core.api.errors import SetupError
from pocketbench.core.api.model import DeviceFacts, ProcessResult, Readings
from pocketbench.core.api.power import RunTrace

#: Called with (bytes done, bytes total) while a file is pushed.
ProgressFn = Callable[[int, int], None]

#: How to stop each run in progress (key -> stop): a signal reaches only the
#: main thread, which stops the runs that other threads wait for.
active_runs: dict[object, Callable[[], None]] = {}


def stop_active_runs() -> None:
    """Stop every run in progress on every device (their threads then see the interrupt)."""
    for stop in list(active_runs.values()):
        try:
            stop()
        except Exception:  # noqa: BLE001 - stopping the others matters more
            continue


@frozen(kw_only=True)
class RunSetup:
    """How the core wants a job's runs placed and sampled (``--cores``, ``--energy``)."""

    #: Pin the runtime to these cores (empty: not pinned).
    cores: tuple[int, ...] = ()
    #: Sample energy during every run.
    energy: bool = False
    #: Note when each piece of the runtime's stdout arrives (per-token times).
    token_times: bool = True

    @property
    def active(self) -> bool:
        return bool(self.cores) or self.energy


@frozen(kw_only=True)
class TokenLauncher:
    """The core's launcher on a device, which times each piece of a runtime's stdout there.

    This host's runs always go through a launcher of their own; a phone's go
    through ``tokenlaunch`` (built for it and pushed by the core) once the
    device has been given its path, or carry ``problem`` as the reason they
    have no per-token times.
    """

    #: Where the launcher is on the device ("": none).
    path: str = ""
    #: Why there is none, one line ("" when there is, or nobody asked yet).
    problem: str = ""


class Device(abc.ABC):
    """A place where a runtime runs: this host, or a phone over adb.

    Backends never build shell text: they pass an argv list, and the device
    quotes every argument for whatever shell stands between it and the
    process.
    """

    #: "local", "adb:SERIAL", ...: how the user names it; stored with results.
    name: str
    #: True when paths on the device are paths on this host.
    is_local: bool = False
    #: Makes the progress display of a push when the caller passes none:
    #: called with (file name, size) and returns a ProgressFn.  Set by the
    #: command line so every backend's pushes show progress without code of its own.
    push_display: Callable[[str, int], ProgressFn] | None = None
    #: Per-token times need the core's launcher pushed to the device
    #: (:meth:`use_token_launcher`); this host starts every run with its own.
    needs_token_launcher: bool = False

    @abc.abstractmethod
    def facts(self) -> DeviceFacts:
        """What the device is (model, SoC, ABI, cores, RAM, OS)."""

    @abc.abstractmethod
    def readings(self) -> Readings:
        """Its state now (temperatures, free memory, load, battery)."""

    @abc.abstractmethod
    def push(self, local: Path, name: str | None = None, progress: ProgressFn | None = None) -> str:
        """Make ``local`` available on the device and return its device path.

        ``name`` is a relative path under the device's working directory
        (default: the file's name); it cannot escape that directory.  A file
        the device already holds with the same size and hash is not sent
        again.  The local device returns ``local`` itself.
        """

    @abc.abstractmethod
    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> ProcessResult:
        """Run ``argv`` and wait at most ``timeout`` seconds (wall clock).
        ``env`` is merged into the device's own environment: the variables
        given replace those of the same name, the others are kept.

        ``cwd`` is where it runs: on a phone relative to :meth:`workdir` (the
        default), on this host as given (default: the current directory).
        A run past its timeout is killed (with its children) and returned
        with ``timed_out=True``.  Never raises for a failing command; raises
        :class:`~pocketbench.core.api.errors.DeviceError` when the device itself
        is gone.
        """

    def workdir(self) -> str:
        """The directory that holds pushed files on the device."""
        raise NotImplementedError

    def free_storage(self) -> int | None:
        """Bytes free in :meth:`workdir`'s file system; None where nothing is pushed (this host).

        Raises :class:`~pocketbench.core.api.errors.SetupError` (one line) when
        the device's answer cannot be read.
        """
        return None

    def holds(self, local: Path, name: str) -> bool:
        """Whether :meth:`push` of ``local`` as ``name`` would send nothing (the same bytes are there)."""
        return self.is_local

    def check_setup(self, setup: RunSetup) -> list[str]:
        """Check that ``setup`` can be honoured here; notices to print (one line each).

        Raises :class:`~pocketbench.core.api.errors.SetupError` (one line that
        says what to do) when it cannot: no ``taskset``, a refused mask, no
        readable battery current, a battery that is charging.
        """
        if setup.active:
            raise SetupError(f"{self.name} can neither pin cores nor measure energy")
        return []

    def use_setup(self, setup: RunSetup) -> None:  # noqa: B027 - optional
        """Apply ``setup`` to the following :meth:`run` calls (the core sets it per execution)."""

    def use_token_launcher(self, launcher: TokenLauncher) -> None:  # noqa: B027 - optional
        """Time the following runs' output with ``launcher`` (when :attr:`needs_token_launcher`)."""

    def take_trace(self, argv: Sequence[str]) -> RunTrace | None:
        """What was recorded during the last run of ``argv`` since the setup was applied."""
        return None

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""
