"""Find the llama.cpp tools, put them on the device and learn what they support.

Where the tools come from, in order:

1. ``--llamacpp-bin DIR`` (``job.options["llamacpp_bin"]``) or the
   ``POCKETBENCH_LLAMACPP_BIN`` environment variable: the user's own build.
   For a phone this is an Android build directory; its binaries (and any
   ``lib*.so`` beside them) are pushed to the device, once their ELF header
   says they are built for the device's ABI.
2. Otherwise, on the local host: the tools built once from the pinned
   source (:mod:`.build`); on a phone: the same source cross-built for the
   phone's ABI and CPU features (:mod:`.crossbuild`).

Quantizing always happens on the host (a GGUF is the same file everywhere),
with :func:`host_tool`: ``llamacpp_host_bin`` / ``POCKETBENCH_LLAMACPP_HOST_BIN``,
the user's directory when the device is this host, or the local build.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from pathlib import Path

from attrs import field, frozen

from pocketbench.backends.llamacpp.parse import ToolVersion
from pocketbench.plugin import (
    Device,
    DeviceFile,
    Job,
    ParseError,
    SetupError,
    cache_dir,
    check_executable_abi,
    explain_refusal,
    file_digest,
    write_atomic,
)

#: Generation tools in order of preference: llama-completion (2025-), the
#: llama-cli that was a completion tool before it became a chat client, and
#: the ``main`` of 2023-2024 builds.  llama-simple cannot set threads.
RUNNERS = ("llama-completion", "llama-cli", "main")
#: Flags the runner must understand to run the matched workload.
REQUIRED_FLAGS = ("-m", "-f", "-n", "-t", "-c", "--temp", "--ignore-eos")
#: Flags used when the runner has them (older builds lack some).
OPTIONAL_FLAGS = (
    "-b", "-no-cnv", "--no-escape", "--no-display-prompt", "--cpu-mask", "--cpu-strict",
)  # fmt: skip
#: Device-side folder for pushed files (under the device's working directory).
DEVICE_DIR = "pocketbench-llamacpp"
_VERSION_TIMEOUT_S = 60.0


@frozen(kw_only=True)
class DeviceTools:
    """The llama.cpp tools as the device sees them."""

    runner_name: str
    #: Device paths (equal to host paths on the local device).
    runner: str
    tokenize: str | None
    bench: str | None
    #: Environment for every tool run (LD_LIBRARY_PATH for pushed libraries).
    env: dict[str, str]
    version: ToolVersion
    #: Optional flags the runner understands.
    flags: frozenset[str]
    #: The host directory the tools came from, and how it was found.
    host_dir: Path
    source: str
    #: How a cross-build was made (toolchain, triple, flags, commit), for ``describe``.
    build_info: dict[str, str] = field(factory=dict)


def user_bin_dir(
    job: Job, key: str = "llamacpp_bin", env: str = "POCKETBENCH_LLAMACPP_BIN"
) -> Path | None:
    """The user's own tool directory, when one is given."""
    given = job.options.get(key) or os.environ.get(env)
    if not given:
        return None
    path = Path(given).expanduser()
    if not path.is_dir():
        raise SetupError(
            f"--llamacpp-bin {given}: not a directory; point it at llama.cpp's build/bin"
        )
    return path


@frozen(kw_only=True)
class HostTools:
    """The tools a job runs on its device, on this host: before they are pushed."""

    host_dir: Path
    source: str
    build_info: dict[str, str]
    runner_name: str
    #: The tools the job runs (the runner first).
    names: tuple[str, ...]

    def device_files(self) -> list[DeviceFile]:
        """The tools and the shared libraries beside them, as they are pushed to a phone."""
        folder = device_folder(self.host_dir)
        libs = sorted(p.name for p in self.host_dir.glob("lib*.so*") if p.is_file())
        return [
            DeviceFile(local=self.host_dir / n, name=f"{folder}/{n}") for n in [*self.names, *libs]
        ]


def host_tools(job: Job, device: Device, *, want_bench: bool) -> HostTools:
    """Find (or build) the tools that run on ``device``; nothing is pushed."""
    user = user_bin_dir(job)
    build_info: dict[str, str] = {}
    # Only what this job runs is built: the cross-check's llama-bench when asked.
    needed = ("llama-completion", "llama-tokenize", *(("llama-bench",) if want_bench else ()))
    if user is not None:
        host_dir, source = user, f"user build {user}"
    elif device.is_local:
        from pocketbench.backends.llamacpp import build

        host_dir = build.ensure_built(needed)
        source = f"built from llama-cpp-python {build.LCP_VERSION} source ({', '.join(build.build_flags())})"
    else:
        from pocketbench.backends.llamacpp import crossbuild

        cross = crossbuild.ensure_for_device(device, needed)
        host_dir, source, build_info = cross.bin_dir, cross.source, cross.info
    runner_name = next((r for r in RUNNERS if (host_dir / r).is_file()), None)
    if runner_name is None:
        raise SetupError(
            f"{host_dir} has no {' / '.join(RUNNERS)}; point --llamacpp-bin at llama.cpp's build/bin"
        )
    names = [runner_name]
    tokenize = (host_dir / "llama-tokenize").is_file()
    bench = want_bench and (host_dir / "llama-bench").is_file()
    if want_bench and not bench:
        raise SetupError(f"{host_dir} has no llama-bench, which the cross-check needs")
    names += ["llama-tokenize"] * tokenize + ["llama-bench"] * bench
    if user is not None:
        abi = device.facts().abi
        for n in names:  # before anything is pushed
            check_executable_abi(host_dir / n, abi, device=device.name, option="--llamacpp-bin")
    return HostTools(
        host_dir=host_dir,
        source=source,
        build_info=build_info,
        runner_name=runner_name,
        names=tuple(names),
    )


def locate(job: Job, device: Device, *, want_bench: bool) -> DeviceTools:
    """Find, push and probe the tools that run on ``device``."""
    host = host_tools(job, device, want_bench=want_bench)
    host_dir, runner_name = host.host_dir, host.runner_name
    paths, env = _put_on_device(device, host)
    runner = paths[runner_name]
    memo = _probe_memo(device, host_dir / runner_name)
    known = _read_probe(memo)
    if known is not None:
        help_text, version_text = known
    else:
        help_text = _output(device, [runner, "--help"], env)
    missing = [f for f in REQUIRED_FLAGS if not has_flag(help_text, f)]
    if missing:
        raise SetupError(
            f"{runner_name} from {host_dir} lacks {', '.join(missing)}; it is too old or not a "
            "llama.cpp build (use one from 2024 or later)"
        )
    if known is None:
        version_text = _output(device, [runner, "--version"], env)
        write_atomic(memo, json.dumps({"help": help_text, "version": version_text}).encode())
    try:
        version = ToolVersion.from_text(version_text)
    except ParseError:
        version = ToolVersion(version="unknown", commit="unknown")
    return DeviceTools(
        runner_name=runner_name,
        runner=runner,
        tokenize=paths.get("llama-tokenize"),
        bench=paths.get("llama-bench"),
        env=env,
        version=version,
        flags=frozenset(f for f in OPTIONAL_FLAGS if has_flag(help_text, f)),
        host_dir=host_dir,
        source=host.source,
        build_info=host.build_info,
    )


def host_tool(job: Job, device: Device, name: str) -> Path:
    """A tool that runs on this host (llama-quantize, or a fallback llama-tokenize)."""
    candidates = [user_bin_dir(job, "llamacpp_host_bin", "POCKETBENCH_LLAMACPP_HOST_BIN")]
    if device.is_local:
        candidates.append(user_bin_dir(job))
    for d in candidates:
        if d is not None and (d / name).is_file():
            return d / name
    from pocketbench.backends.llamacpp import build

    try:
        return build.ensure_built((name,)) / name
    except SetupError as exc:
        if device.is_local:
            raise
        raise SetupError(
            f"{name} runs on this host, not on {device.name}: {exc} "
            "(or -O llamacpp_host_bin=DIR with a host build of llama.cpp)"
        ) from None


def tool_commit(tool: Path) -> str:
    """The build commit of a local tool, for cache keys.

    llama-quantize has no ``--version``; the generation tool beside it (same
    build) answers for it.  An unknown build still gets a stable key: the
    binary's own hash.
    """
    import subprocess

    from pocketbench.backends.llamacpp import build

    if tool.parent == cache_dir("llamacpp") / build.build_key() / "bin":
        # Our own build says its commit (what its --version prints): the key must not
        # change when llama-completion, built later, could answer for it.
        return build.LLAMACPP_COMMIT
    for candidate in (tool, *(tool.parent / r for r in RUNNERS)):
        if not candidate.is_file():
            continue
        try:
            proc = subprocess.run(
                [str(candidate), "--version"], capture_output=True, text=True, errors="replace",
                timeout=_VERSION_TIMEOUT_S, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            return ToolVersion.from_text(proc.stdout + proc.stderr).commit
        except (OSError, subprocess.TimeoutExpired, ParseError):
            continue
    return "sha-" + hashlib.sha256(tool.read_bytes()).hexdigest()[:10]


def help_text(device: Device, tool: str, env: dict[str, str]) -> str:
    """What ``tool --help`` prints on ``device`` (to learn which flags this build has)."""
    return _output(device, [tool, "--help"], env)


def has_flag(help_text: str, flag: str) -> bool:
    """True when ``flag`` appears as a whole option in ``--help`` output."""
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text) is not None


def _put_on_device(device: Device, host: HostTools) -> tuple[dict[str, str], dict[str, str]]:
    """Push the tools (and shared libraries beside them) unless the device is this host."""
    names = host.names
    if device.is_local:
        return {n: str(host.host_dir / n) for n in names}, {}
    files = host.device_files()
    libs = len(files) > len(names)
    paths = {f.local.name: device.push(f.local, f.name) for f in files}
    # adb push may not keep the executable bit.
    chmod = device.run(["chmod", "755", *(paths[n] for n in names)], timeout=_VERSION_TIMEOUT_S)
    if not chmod.ok:
        raise SetupError(
            f"{device.name}: cannot make the pushed llama.cpp tools executable: {chmod.stderr.strip()[:200]}"
        )
    env = {"LD_LIBRARY_PATH": posixpath.dirname(paths[names[0]])} if libs else {}
    return paths, env


def device_folder(host_dir: Path) -> str:
    """The device folder of the tools from ``host_dir`` (under the device's working directory)."""
    # One folder per source directory, so two builds never overwrite each other.
    tag = hashlib.sha256(str(host_dir.resolve()).encode()).hexdigest()[:8]
    return f"{DEVICE_DIR}/bin-{tag}"


def _probe_memo(device: Device, runner: Path) -> Path:
    """Where the runner's ``--help``/``--version`` output is remembered for ``device``.

    Both are facts of the binary, but each costs a process start on the device
    (about a second under emulation).  Keyed by the binary's hash and the
    device, so the first prepare on a device still proves the binary runs there.
    """
    key = hashlib.sha256(f"{file_digest(runner)}\0{device.name}".encode()).hexdigest()[:24]
    return cache_dir("llamacpp", "probes") / f"{key}.json"


def _read_probe(memo: Path) -> tuple[str, str] | None:
    """(help, version) from a memo, when it is whole and well-formed."""
    try:
        data = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and all(isinstance(data.get(k), str) for k in ("help", "version")):
        return data["help"], data["version"]
    return None


def _output(device: Device, argv: list[str], env: dict[str, str]) -> str:
    result = device.run(argv, timeout=_VERSION_TIMEOUT_S, env=env or None)
    refusal = explain_refusal(device, argv[0], result)
    if refusal is not None:
        raise SetupError(refusal)
    if result.exit_code is None or result.exit_code < 0 or result.exit_code == 127:
        why = (
            "timed out"
            if result.timed_out
            else (result.stderr.strip().splitlines() or ["crashed"])[-1][:200]
        )
        raise SetupError(f"{device.name}: cannot run {argv[0]}: {why}")
    return result.stdout + result.stderr
