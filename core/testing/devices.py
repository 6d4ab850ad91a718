"""A device that is not this host, for testing a backend's phone path without a phone.

:class:`FakePhone` says ``is_local = False`` like an adb phone, so a backend
that runs only on this host must refuse it, and a backend that pushes its
runtime and model exercises that path: pushed files are copied into a folder
of this host (like ``adb push``, the mode is not kept) and commands run here
as real processes.  For a phone behind a real adb server, see
:mod:`pocketbench.testing.phone.adbhost`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pocketbench.core.devices.base import ProgressFn
from pocketbench.core.devices.local import LocalDevice


class FakePhone(LocalDevice):
    """A non-local device whose files live in ``root``; ``pushed`` lists the device paths pushed."""

    is_local = False

    def __init__(self, root: Path, name: str = "fake-phone") -> None:
        self.name = name
        self.root = Path(root)
        self.pushed: list[str] = []
        self.root.mkdir(parents=True, exist_ok=True)

    def push(self, local: Path, name: str | None = None, progress: ProgressFn | None = None) -> str:
        dest = self.root / (name or Path(local).name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, dest)
        self.pushed.append(str(dest))
        return str(dest)

    def workdir(self) -> str:
        return str(self.root)
