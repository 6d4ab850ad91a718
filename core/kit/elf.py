"""Which processor an executable was built for, read from its ELF header.

A phone refuses a binary built for another processor with an unhelpful
"not executable: 64-bit ELF file" (or "syntax error" from its shell), and
only after the push.  Reading the 20 header bytes first lets a backend
answer a wrong ``--llamacpp-bin`` or ``--llama-main`` with one line before
anything is pushed.
"""

from __future__ import annotations

import struct
from pathlib import Path

from attrs import frozen

from pocketbench.core.api.errors import SetupError

#: ELF ``e_machine`` values and what they are called.
MACHINES: dict[int, str] = {
    3: "x86 (32-bit)",
    8: "MIPS",
    40: "ARM (32-bit)",
    62: "x86-64",
    183: "AArch64 (arm64)",
    243: "RISC-V",
}

#: Android ABI (``ro.product.cpu.abi``; also ``platform.machine()`` names) ->
#: (e_machine, 64-bit?).
ABI_MACHINES: dict[str, tuple[int, bool]] = {
    "arm64-v8a": (183, True),
    "aarch64": (183, True),
    "armeabi-v7a": (40, False),
    "armeabi": (40, False),
    "x86_64": (62, True),
    "amd64": (62, True),
    "x86": (3, False),
    "i686": (3, False),
    "riscv64": (243, True),
}


@frozen
class ElfInfo:
    """The header facts of one ELF file."""

    machine: int
    is64: bool
    little_endian: bool

    @property
    def machine_name(self) -> str:
        name = MACHINES.get(self.machine, f"machine {self.machine}")
        return name if self.machine not in (40, 3) or not self.is64 else f"{name}, 64-bit"

    def runs_on(self, abi: str) -> bool | None:
        """True/False for an ABI this module knows; None when it cannot tell."""
        want = ABI_MACHINES.get(abi.strip().lower())
        if want is None:
            return None
        return (self.machine, self.is64) == want


def read_elf(path: Path) -> ElfInfo | None:
    """The ELF header of ``path``, or None when it is not an ELF file (a script, say)."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError as exc:
        raise SetupError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    little = head[5] == 1
    (machine,) = struct.unpack("<H" if little else ">H", head[18:20])
    return ElfInfo(machine=machine, is64=head[4] == 2, little_endian=little)


def check_executable_abi(path: Path, abi: str, *, device: str, option: str) -> None:
    """Raise one :class:`SetupError` line when ``path`` cannot run on an ``abi`` device.

    ``option`` names what the user passed (``--llamacpp-bin``, ...), so the
    line says what to change.  Files that are not ELF (wrapper scripts) and
    ABIs this module does not know are let through: the device has the last word.
    """
    info = read_elf(path)
    if info is None or info.runs_on(abi) is not False:
        return
    raise SetupError(
        f"{option}: {path} is built for {info.machine_name}, but {device} is {abi}; "
        f"pass a build for {abi}"
    )
