"""The shell text sent to Android and the parsers of its answers, without adb.

The wrapper runs under dash here and, when Debian's ``mksh`` and ``toybox``
are installed, under Android's own shell with toybox tools only on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pocketbench.core.api.errors import UsageError
from pocketbench.core.devices import DEVICE_FORMS, open_device, parse_device
from pocketbench.core.devices.android import (
    celsius,
    kill_script,
    parse_digest,
    parse_facts,
    parse_readings,
    safe_name,
    split_arrivals,
    split_rss,
    wrapper_script,
)
from pocketbench.core.devices.androidstorage import df_script, parse_df
from pocketbench.core.devices.local import LocalDevice
from pocketbench.testing.wait import wait_until

NASTY = "\"; rm -rf /; $(reboot) `reboot` 'q' \\ $HOME *\n ünï"


def _android_path(tmp_path: Path) -> dict[str, str] | None:
    mksh, toybox = shutil.which("mksh"), shutil.which("toybox")
    if not (mksh and toybox):
        return None
    tools = tmp_path / "system-bin"
    tools.mkdir()
    for tool in ("sleep", "kill", "cat", "rm", "grep", "env", "printf", "echo", "mkdir", "df"):
        (tools / tool).symlink_to(toybox)
    (tools / "sh").symlink_to(mksh)
    return {"PATH": str(tools)}


@pytest.fixture(params=["dash", "mksh+toybox"])
def shell(request, tmp_path: Path) -> tuple[str, dict[str, str]]:
    if request.param == "dash":
        return "/bin/sh", {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env = _android_path(tmp_path)
    if env is None:
        pytest.skip("mksh and toybox are not installed (apt-get install mksh toybox)")
    return shutil.which("mksh"), env  # type: ignore[return-value]


def run_wrapped(shell, tmp_path: Path, argv: list[str], **kw):
    sh, env = shell
    script = wrapper_script(
        argv,
        cwd=str(tmp_path),
        env=kw.pop("env", None),
        pidfile=str(tmp_path / "pid"),
        token="t0k",
        poll_s=0.1,
        backstop_s=kw.pop("backstop_s", 60),
    )
    return subprocess.run(
        [sh, "-c", script], capture_output=True, env=env, start_new_session=True, timeout=60
    )


def test_wrapper_passes_argv_env_and_exit_code(shell, tmp_path):
    code = "import sys, os, json; print(json.dumps([sys.argv[1:], os.environ['V']])); sys.exit(7)"
    r = run_wrapped(shell, tmp_path, [sys.executable, "-c", code, NASTY, ""], env={"V": NASTY})
    assert r.returncode == 7
    assert json.loads(r.stdout) == [[NASTY, ""], NASTY]
    stderr, peak = split_rss(r.stderr, "t0k")
    assert stderr == b""
    assert not (tmp_path / "pid").exists()


def test_wrapper_starts_the_program_through_the_token_launcher(shell, tmp_path):
    from pocketbench.core.devices import native, probe, spawn

    sh, env = shell
    launcher = native.build(
        "tokenlaunch.c", probe.toolchain_for("", local=True), "the token launcher", ("-O2",)
    )
    arrivals = tmp_path / ".arrivals-t"
    script = wrapper_script(
        ["sh", "-c", "printf a; sleep 0.3; printf b; printf err >&2; exit 7"],
        cwd=str(tmp_path), env={"V": NASTY}, pidfile=str(tmp_path / "pid"), token="t",
        poll_s=0.1, backstop_s=60, launcher=(str(launcher), str(arrivals)),
    )  # fmt: skip
    r = subprocess.run([sh, "-c", script], capture_output=True, env=env, timeout=60)
    assert r.returncode == 7 and r.stdout == b"ab"
    stderr, _ = split_rss(r.stderr, "t")
    stderr, block = split_arrivals(stderr, "t")
    assert stderr == b"err" and block is not None
    assert [end for _, end in spawn.read_arrivals(block)] == [1, 2]
    assert spawn.read_rusage(block) is not None
    assert not arrivals.exists() and not (tmp_path / "pid").exists()


def test_wrapper_reads_long_arguments_from_files(shell, tmp_path):
    sh, env = shell
    arg = tmp_path / "arg1"
    arg.write_bytes((NASTY + "\n\n").encode())
    script = wrapper_script(["printf", "[%s]", "placeholder"], cwd=str(tmp_path), env=None,
                            pidfile=str(tmp_path / "pid"), token="t", poll_s=0.1, backstop_s=60,
                            argfiles={2: str(arg)})  # fmt: skip
    r = subprocess.run([sh, "-c", script], capture_output=True, env=env, timeout=60)
    assert r.stdout.decode() == f"[{NASTY}\n\n]"
    assert not arg.exists()


def test_wrapper_reports_peak_rss(shell, tmp_path):
    code = "import time; b = bytearray(64 * 2**20); time.sleep(0.5)"
    r = run_wrapped(shell, tmp_path, [sys.executable, "-c", code])
    _, peak = split_rss(r.stderr, "t0k")
    assert peak is not None and peak > 64 * 2**20


def test_kill_script_stops_the_whole_group(shell, tmp_path):
    sh, env = shell
    script = wrapper_script(
        ["sh", "-c", "sleep 300 & echo $! > gc; sleep 300"],
        cwd=str(tmp_path),
        env=None,
        pidfile=str(tmp_path / "pid"),
        token="t",
        poll_s=0.1,
        backstop_s=60,
    )
    proc = subprocess.Popen(
        [sh, "-c", script],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until((tmp_path / "gc").exists)
        grandchild = int((tmp_path / "gc").read_text())
        out = subprocess.run(
            [sh, "-c", kill_script(str(tmp_path / "pid"))],
            capture_output=True,
            env=env,
            text=True,
            timeout=30,
        )
        assert out.stdout.strip() == "gone"
        proc.wait(10)
        assert (
            not Path(f"/proc/{grandchild}").exists()
            or "Z" in Path(f"/proc/{grandchild}/stat").read_text().split()[2]
        )
    finally:
        proc.kill()


def test_the_backstop_kills_a_run_whose_host_vanished(shell, tmp_path):
    start = time.monotonic()
    r = run_wrapped(shell, tmp_path, ["sleep", "30"], backstop_s=1)
    assert r.returncode != 0 and time.monotonic() - start < 15


def test_wrapper_refuses_what_it_cannot_quote():
    with pytest.raises(ValueError):
        wrapper_script(
            ["x"], cwd="/", env={"A-B": "1"}, pidfile="/p", token="t", poll_s=0, backstop_s=1
        )
    with pytest.raises(ValueError):
        wrapper_script(
            ["A=1"], cwd="/", env={"A": "1"}, pidfile="/p", token="t", poll_s=0, backstop_s=1
        )
    with pytest.raises(ValueError):
        wrapper_script([], cwd="/", env=None, pidfile="/p", token="t", poll_s=0, backstop_s=1)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../x", "x"),
        ("/etc/passwd", "etc/passwd"),
        ("a/./b//c", "a/b/c"),
        ("a/../../b", "a/b"),
        ("m\x00o\ndel.gguf", "model.gguf"),
        ("..\\..\\x", "x"),
    ],
)
def test_safe_name(name, safe):
    assert safe_name(name) == safe


@pytest.mark.parametrize("name", ["", "..", "../..", "/", "./"])
def test_safe_name_with_nothing_left(name):
    with pytest.raises(ValueError):
        safe_name(name)


def test_split_rss_only_removes_its_own_line():
    err = b"log line\n__pocketbench_abc_peak_kb= not mine\n\n__pocketbench_t_peak_kb=2048\n"
    assert split_rss(err, "t") == (b"log line\n__pocketbench_abc_peak_kb= not mine\n", 2048 * 1024)
    assert split_rss(b"no marker", "t") == (b"no marker", None)
    assert split_rss(b"x\n__pocketbench_t_peak_kb=0\n", "t") == (b"x", None)


def test_parse_digest():
    assert parse_digest("sha256 ABCDEF01 /data/x\n") == ("sha256", "abcdef01")
    assert parse_digest("md5 0123 /x") == ("md5", "0123")
    assert parse_digest("none") is None


FACTS = """@props
[ro.product.manufacturer]: [samsung]
[ro.product.model]: [SM-A256E]
[ro.soc.manufacturer]: [Samsung]
[ro.soc.model]: [s5e8835]
[ro.board.platform]: [s5e8835]
[ro.hardware]: [s5e8835]
[ro.product.cpu.abi]: [arm64-v8a]
[ro.build.version.release]: [14]
[ro.build.version.sdk]: [34]
@meminfo
MemTotal:        5735716 kB
MemFree:          201340 kB
@possible
0-7
@nproc
8
@freq
/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq 2002000
/sys/devices/system/cpu/cpu6/cpufreq/cpuinfo_max_freq 2400000
/sys/devices/system/cpu/cpu10/cpufreq/cpuinfo_max_freq 2600000
@uname
Linux 5.15.123 aarch64
"""


def test_parse_facts_of_a_galaxy_a25():
    f = parse_facts("adb:R58W", FACTS)
    assert (f.manufacturer, f.model, f.soc, f.abi) == (
        "samsung",
        "SM-A256E",
        "Samsung s5e8835",
        "arm64-v8a",
    )
    assert f.os == "Android 14 (API 34)" and f.cores == 8
    assert f.max_freqs_khz == (2002000, 2400000, 2600000)
    assert f.ram_bytes == 5735716 * 1024
    assert f.extra["kernel"] == "Linux 5.15.123 aarch64"


def test_parse_facts_falls_back_to_board_and_hardware():
    f = parse_facts("adb:x", "@props\n[ro.hardware]: [qcom]\n@possible\n@nproc\n4\n")
    assert f.soc == "qcom" and f.cores == 4 and f.os == ""


def test_parse_readings_from_sysfs_battery():
    text = (
        "T thermal_zone0 41500 cpu-0-0-usr\nT thermal_zone1 -273000 bogus\nT thermal_zone2 38 skin\n"
        "T thermal_zone3 garbage x\nM MemAvailable: 2048\nM MemFree: 1024\nL 3.25\nB 57 312 Not charging\n"
    )
    r = parse_readings(text)
    assert r["temperatures_c"] == {
        "thermal_zone0:cpu-0-0-usr": 41.5,
        "thermal_zone2:skin": 38.0,
        "battery": 31.2,
    }
    assert (r["free_mem_bytes"], r["load_avg"], r["battery_level"], r["charging"]) == (
        2048 * 1024,
        3.25,
        57,
        False,
    )
    assert parse_readings("B 100 300 Full")["charging"] is True


def test_parse_readings_from_dumpsys():
    text = (
        "M MemFree: 10\n@dumpsys\nCurrent Battery Service state:\n  AC powered: false\n  USB powered: true\n"
        "  status: 2\n  level: 77\n  temperature: 295\n"
    )
    r = parse_readings(text)
    assert r["temperatures_c"] == {"battery": 29.5}
    assert (r["battery_level"], r["charging"], r["free_mem_bytes"]) == (77, True, 10 * 1024)


def test_celsius():
    assert celsius("45000") == 45.0 and celsius("45") == 45.0
    assert celsius("-273000") is None and celsius("x") is None and celsius("200000") is None


def test_device_specs():
    assert parse_device("local") == ("local", {})
    assert parse_device("adb") == ("adb", {"serial": None})
    assert parse_device("adb:127.0.0.1:5555") == ("adb", {"serial": "127.0.0.1:5555"})
    assert parse_device("adb://lab.example:5038/R58W") == (
        "adb",
        {"serial": "R58W", "host": "lab.example", "port": 5038, "url_name": True},
    )
    assert parse_device("adb://lab")[1]["port"] == 5037
    assert isinstance(open_device("local"), LocalDevice)


@pytest.mark.parametrize(
    "spec", ["phone", "adb:", "ADB", "adb://", "adb://h:1/a/b", "adb://h:notaport/x"]
)
def test_unknown_device_forms_list_the_valid_ones(spec):
    with pytest.raises(UsageError) as info:
        open_device(spec)
    message = str(info.value)
    assert "\n" not in message
    if "Choose one of" in message:
        assert all(form in message for form in DEVICE_FORMS)
    else:
        assert "adb://HOST:PORT/SERIAL" in message


def test_wrapper_pins_and_traces_under_androids_shell(shell, tmp_path):
    """taskset pins the program, which records its own allowed cores; the sampler writes beside it."""
    sh, env = shell
    if sh != "/bin/sh":
        toybox = shutil.which("toybox")
        (Path(env["PATH"]) / "taskset").symlink_to(toybox)
    core = max(os.sched_getaffinity(0))
    trace = tmp_path / "trace"
    script = wrapper_script(
        [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
        cwd=str(tmp_path), env={"V": NASTY}, pidfile=str(tmp_path / "pid"), token="t", poll_s=0.1,
        backstop_s=60, prefix=("taskset", format(1 << core, "x")), tracefile=str(trace),
        sample='echo "S x" >&3',
    )  # fmt: skip
    r = subprocess.run([sh, "-c", script], capture_output=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stdout.decode().strip() == f"[{core}]"
    lines = trace.read_text().splitlines()
    assert f"A {core}" in lines  # written by the program's own process, even for a short run
    assert lines[0].startswith("B ") and lines[-1].startswith("E ")
    assert lines.count("S x") >= 2  # a sample at each end of the run at least


def test_free_storage_is_read_from_df_as_androids_shell_prints_it(shell, tmp_path):
    sh, env = shell
    out = subprocess.run([sh, "-c", df_script(str(tmp_path))], capture_output=True, env=env)
    assert out.returncode == 0 and not out.stderr, out.stderr
    before = os.statvfs(tmp_path)
    free = parse_df(out.stdout.decode())
    after = os.statvfs(tmp_path)
    if sh == "/bin/sh":
        # GNU df: the kernel's figure for users (other processes write meanwhile, so
        # within a MiB of the readings before and after).
        readings = [st.f_bavail * st.f_frsize for st in (before, after)]
        assert min(readings) - 2**20 <= free <= max(readings) + 2**20
    else:
        # Debian's toybox counts the root-reserved blocks as available too.
        assert free >= after.f_bavail * after.f_frsize - 2**20


def test_free_storage_of_old_androids_and_long_names():
    toolbox = (
        "Filesystem               Size     Used     Free   Blksize\n"
        "/data                   12.5G     4.2G     8.3G   4096\n"
    )
    assert parse_df(toolbox) == int(8.3 * 2**30)
    wrapped = (
        "Filesystem                                  1K-blocks    Used Available Use% Mounted on\n"
        "/dev/block/platform/soc/1d84000.ufshc/by-name/userdata\n"
        "                                            115498832 50862156  64505892  45% /data\n"
    )
    assert parse_df(wrapped) == 64505892 * 1024


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "no figures"),
        ("df: /data/local/tmp/pocketbench: No such file or directory\n", "no figures"),
        ("Filesystem Size Used\n/data 1G 1G\n", "no Available or Free column"),
        (
            "Filesystem 1K-blocks Used Available Use% Mounted on\n/data 10 5 lots 50% /data\n",
            "not a size",
        ),
        ("Filesystem Size Used Free Blksize\n/data 100 50 50 4096\n", "no unit"),
    ],
)
def test_free_storage_that_cannot_be_read_is_refused_not_guessed(text, why):
    with pytest.raises(ValueError, match=why):
        parse_df(text)
