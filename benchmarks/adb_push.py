"""Push efficiency over adb (issue 8): a second job with an unchanged model sends no model bytes.

    python benchmarks/adb_push.py

Starts Debian's adb server on a private port and the loopback test phone,
runs the same llama.cpp job twice through `bench --device adb:SERIAL`, and
prints the bytes the phone received each time (counted by the phone).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pocketbench.testing.cli import run_bench
from pocketbench.testing.phone.adbhost import attached_phone


def main() -> None:
    from pocketbench.backends.llamacpp import build

    host_bin = str(build.ensure_built())
    with tempfile.TemporaryDirectory() as tmp, attached_phone(Path(tmp) / "phone") as phone:
        args = (
            "--backend",
            "llamacpp",
            "--quant",
            "q4_0",
            "--model",
            "stories110m",
            "--device",
            f"adb:{phone.serial}",
            "--llamacpp-bin",
            host_bin,
            "--runs",
            "1",
            "--warmup",
            "0",
            "--gen-tokens",
            "8",
            "--cooldown",
            "off",
        )
        env = {"ANDROID_ADB_SERVER_PORT": str(phone.server_port)}
        for job in ("first job", "second job"):
            before = phone.daemon.bytes_received
            r = run_bench(*args, cwd=tmp, **env)
            assert r.returncode == 0, r.stderr
            print(f"{job}: {phone.daemon.bytes_received - before:>12,} bytes pushed")


if __name__ == "__main__":
    main()
