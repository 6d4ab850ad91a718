"""A device-lab host on this machine: a network namespace with an adb server and phones.

A real lab is several hosts, each running an adb server that clients reach
over TCP.  :func:`lab_host` makes one such host here: a network namespace
(``ip netns add``) joined to the root namespace by one veth pair, with the
address only inside the namespace (the root side gets a host route, no
address), Debian's adb server listening on every address of the namespace
(``adb -a -P PORT nodaemon server``) and loopback phones
(:class:`~pocketbench.testing.phone.adbd.TestAdbd`) on the namespace's own
127.0.0.1.  Everything of the host runs in one child process started with
``ip netns exec``; the test drives it over its stdin::

    with lab_host(tmp_path / "h1", index=1, phones=2) as host:
        f"pool:Loopback A25@{host.server}"   # reachable from the root namespace
        host.kill_server()                    # the host's adb server dies (SIGKILL)
        host.start_server()                   # ... and is back, its phones attached
        host.pull_phone(0); host.plug_phone(0)  # one phone vanishes, and comes back

Run ``python -m pocketbench.testing.phone.netlab`` only through :func:`lab_host`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from attrs import define

#: Addresses of lab hosts: 10.217.INDEX.2 inside namespace INDEX.
SUBNET = "10.217"
ADB_PORT = 5037


def netns_problem() -> str | None:
    """Why network namespaces cannot be made here (None when they can)."""
    if shutil.which("ip") is None:
        return "the `ip` command is missing: apt-get install -y iproute2 (scripts/setup.sh test)"
    name = f"pbprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        return f"the kernel refuses network namespaces here (ip netns add: {made.stderr.strip()})"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


@define
class LabHost:
    """A running lab host: its namespace, server address, phones' serials and control pipe."""

    namespace: str
    address: str
    port: int
    serials: list[str]
    proc: subprocess.Popen

    @property
    def server(self) -> str:
        return f"{self.address}:{self.port}"

    def _ask(self, command: str) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"lab host {self.namespace} ended; see its stderr")
        return json.loads(line)

    def kill_server(self) -> None:
        """The host's adb server dies at once (SIGKILL), as when the host crashes or is unplugged."""
        self._ask("kill-server")

    def pull_phone(self, index: int) -> None:
        """Phone ``index`` vanishes, as when its cable is pulled (connections drop)."""
        self._ask(f"pull-phone {index}")

    def plug_phone(self, index: int) -> None:
        """Phone ``index`` is back on the same address and attached again."""
        self._ask(f"plug-phone {index}")

    def start_server(self) -> None:
        """Start the adb server again and attach the same phones."""
        self._ask("start-server")


def _sh(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")


@contextlib.contextmanager
def lab_host(
    root: Path,
    *,
    index: int,
    phones: int = 2,
    phone_ports: Sequence[int] = (),
    model: str = "Loopback A25",
) -> Iterator[LabHost]:
    """A lab host in its own network namespace (needs root); torn down at the end."""
    ns = f"pblab{os.getpid()}x{index}"
    outer, inner = f"pbl{os.getpid() % 100000}a{index}", f"pbl{os.getpid() % 100000}b{index}"
    address = f"{SUBNET}.{index}.2"
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    proc: subprocess.Popen | None = None
    _sh("ip", "netns", "add", ns)
    try:
        _sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        _sh("ip", "link", "set", inner, "netns", ns)
        _sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", inner)
        _sh("ip", "-n", ns, "link", "set", inner, "up")
        _sh("ip", "-n", ns, "link", "set", "lo", "up")
        # Replies go back over the veth to whatever root-side source address was used.
        _sh("ip", "-n", ns, "route", "add", "default", "dev", inner)
        _sh("ip", "link", "set", outer, "up")
        _sh("ip", "route", "add", f"{address}/32", "dev", outer)
        argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "pocketbench.testing.phone.netlab"]
        argv += ["--root", str(root), "--phones", str(phones), "--model", model]
        for port in phone_ports:
            argv += ["--phone-port", str(port)]
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(root / "host.log", "w"),  # noqa: SIM115 - the child owns it
            text=True,
            start_new_session=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait(10)
            raise RuntimeError(f"lab host {ns} did not start: {(root / 'host.log').read_text()}")
        ready = json.loads(line)
        yield LabHost(ns, address, ADB_PORT, ready["serials"], proc)
    finally:
        if proc is not None:
            with contextlib.suppress(OSError, ValueError):
                assert proc.stdin is not None
                proc.stdin.close()  # the host stops its server and phones
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        subprocess.run(["ip", "link", "del", outer], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


# -- inside the namespace -----------------------------------------------------------


def _serve(root: Path, phones: int, ports: Sequence[int], model: str) -> None:
    from pocketbench.testing.phone.adbd import Fixture, TestAdbd
    from pocketbench.testing.phone.adbhost import AdbServer, find_adb

    adb = find_adb()
    if adb is None:
        raise SystemExit("no adb binary: apt-get install -y adb")
    with (
        tempfile.TemporaryDirectory(prefix="pocketbench-lab-home-") as home,
        contextlib.ExitStack() as stack,
    ):
        server = AdbServer(ADB_PORT, adb, Path(home))
        daemons = []
        for i in range(phones):
            fixture = Fixture()
            fixture.props["ro.product.model"] = model
            port = ports[i] if i < len(ports) else 0
            daemon = stack.enter_context(TestAdbd(root / f"phone{i + 1}", fixture, port=port))
            daemons.append(daemon)
        serials = [f"127.0.0.1:{d.port}" for d in daemons]
        running: list[subprocess.Popen] = []

        def start() -> None:
            log = open(root / "adb-server.log", "a")  # noqa: SIM115 - the server owns it
            running.append(
                subprocess.Popen(
                    [adb, "-a", "-P", str(ADB_PORT), "nodaemon", "server"],
                    env=server.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
            )
            from pocketbench.testing.wait import wait_until

            # Wait on the socket, not with `adb devices`: a client that finds no
            # server starts one of its own (loopback only), and ours then fails
            # to bind and exits.
            if not wait_until(lambda: _listening(ADB_PORT), timeout=20):
                raise RuntimeError("the adb server did not start listening")
            if running[-1].poll() is not None:
                raise RuntimeError("the adb server exited at once; see adb-server.log")
            for serial in serials:
                server.connect(serial)

        def kill() -> None:
            for p in running:
                p.kill()
                p.wait()
            running.clear()

        try:
            start()
            print(json.dumps({"serials": serials}), flush=True)
            for line in sys.stdin:
                command = line.strip()
                if command == "kill-server":
                    kill()
                elif command == "start-server":
                    start()
                elif command.startswith("pull-phone "):
                    daemons[int(command.split()[1])].kill()
                elif command.startswith("plug-phone "):
                    i = int(command.split()[1])
                    old = daemons[i]
                    # The same port: the server knows the phone by its serial.
                    daemons[i] = stack.enter_context(TestAdbd(old.root, old.fixture, port=old.port))
                    server.disconnect(serials[i])
                    server.connect(serials[i])
                print(json.dumps({"done": command}), flush=True)
        finally:
            kill()


def _listening(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="a lab host (run through lab_host())")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--phones", type=int, default=2)
    parser.add_argument("--phone-port", type=int, action="append", default=[])
    parser.add_argument("--model", default="Loopback A25")
    args = parser.parse_args(argv)
    _serve(args.root, args.phones, args.phone_port, args.model)


if __name__ == "__main__":
    main()
