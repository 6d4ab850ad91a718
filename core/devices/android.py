"""What pocketbench says to an Android shell, and how it reads the answers.

Every piece of shell text sent to a device is built here, and every value
that did not come from this module (argv, environment values, paths) passes
through :func:`shlex.quote`.  The scripts are plain POSIX sh plus the tools
every Android since 7 has (toybox ``sleep``, ``kill``, ``cat``), so they run
under Android's mksh as under dash on a Linux host.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence

from pocketbench.core.api.model import DeviceFacts

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def safe_name(name: str) -> str:
    """A relative path that stays inside the working directory.

    ``..``, ``.`` and empty components are dropped, as are control characters;
    ``../../x`` becomes ``x``.  Raises ValueError when nothing is left.
    """
    name = re.sub(r"[\x00-\x1f\x7f]", "", name.replace("\\", "/"))
    parts = [p for p in name.split("/") if p not in ("", ".", "..")]
    if not parts:
        raise ValueError(f"{name!r} names no file")
    return "/".join(parts)


def inside(workdir: str, path: str) -> bool:
    norm = posixpath.normpath(path)
    return norm.startswith(workdir.rstrip("/") + "/")


# -- running a command ----------------------------------------------------------


def rss_marker(token: str) -> str:
    return f"__pocketbench_{token}_peak_kb="


def arrivals_marker(token: str) -> str:
    return f"__pocketbench_{token}_arrivals"


def wrapper_script(
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[str, str] | None,
    pidfile: str,
    token: str,
    poll_s: float,
    backstop_s: int,
    argfiles: Mapping[int, str] | None = None,
    prefix: Sequence[str] = (),
    tracefile: str = "",
    sample: str = "",
    bracket: tuple[str, str] = ("", ""),
    launcher: tuple[str, str] | None = None,
) -> str:
    """Shell text that runs ``argv`` and reports its exit code and peak RSS.

    The program runs in the background of a wrapper shell that adbd started
    as a session leader, so ``kill -- -WRAPPER`` reaches the program and
    anything it spawned.  The wrapper writes ``WRAPPER PROGRAM`` pids to
    ``pidfile`` (how the host kills a run past its timeout), samples
    ``VmHWM`` from ``/proc/PID/status`` every ``poll_s`` seconds (a lower
    bound of the peak, in kB) and prints it on stderr behind
    :func:`rss_marker` after the program ended.  When the adb stream closes
    under it (SIGHUP from adbd) it kills the program; ``backstop_s`` seconds
    after the start it kills it by itself, should the host vanish without a
    hang-up.

    ``argfiles`` maps argv positions to device files holding that argument
    (for arguments too long for one adb request); the file's bytes become
    the argument exactly, trailing newlines included, and the files are
    removed at the end.

    ``prefix`` words go before the command (``taskset MASK``: it execs the
    program, so the recorded pid stays the program's).  With ``tracefile``
    the wrapper writes the program's ``Cpus_allowed_list`` and the start and
    end of the run (device uptime) there, and runs the shell text ``sample``
    on every poll with that file open on descriptor 3 (see
    :mod:`pocketbench.core.devices.androidpower`).  ``bracket`` is shell text
    run just before the run's start line and just after its end line (the
    clock mapping and the power rails' counters), in the same shell.

    ``launcher`` is (the token launcher's path, its arrivals file): the
    program is started through it (``tokenlaunch.c``), and after the run the
    file's lines are printed on stderr behind :func:`arrivals_marker`, before
    the peak-RSS line, and the file is removed.
    """
    q = shlex.quote
    if not argv:
        raise ValueError("empty argv")
    if env and ("=" in argv[0] or argv[0].startswith("-")):
        raise ValueError(f"program name {argv[0]!r} would be read as an option of env")
    assignments = []
    for key, value in (env or {}).items():
        if not _ENV_NAME.match(key):
            raise ValueError(f"{key!r} is not an environment variable name")
        assignments.append(q(f"{key}={value}"))
    argfiles = dict(argfiles or {})
    words = [f'"$a{i}"' if i in argfiles else q(a) for i, a in enumerate(argv)]
    if launcher:
        words = [q(launcher[0]), q(launcher[1]), *words]
    command = " ".join(["env", *assignments, *words] if assignments else words)
    if tracefile:
        # The program's own process writes the cores it is allowed, then becomes the
        # program (exec keeps the pid and the affinity); a run too short for one poll
        # is recorded as well.
        command = f"sh -c {q(_REPORT_ALLOWED)} sh {q(tracefile)} {command}"
    if prefix:
        command = " ".join([*(q(w) for w in prefix), command])
    # $(...) strips trailing newlines: append a sentinel and cut it off again.
    loads = [f"a{i}=$(cat {q(path)}; printf x); a{i}=${{a{i}%x}}" for i, path in argfiles.items()]
    cleanup = [f"rm -f {' '.join(q(p) for p in argfiles.values())}"] if argfiles else []
    lines = [
        "trap 'kill -s KILL -- -$$ 2>/dev/null; kill -s KILL $p 2>/dev/null; exit 129' HUP",
        *loads,
        *cleanup,
        f"cd {q(cwd)} || exit 125",
        *(
            [
                f": > {q(tracefile)}; exec 3>> {q(tracefile)}",
                *([bracket[0]] if bracket[0] else []),
                'read -r u _ < /proc/uptime; echo "B $u" >&3',
            ]
            if tracefile
            else []
        ),
        # A sample at the start and one at the end bound the run.
        *([sample] if sample else []),
        f"{command} &",
        "p=$!",
        f'echo "$$ $p" > {q(pidfile)}',
    ]
    if poll_s > 0:
        lines += [
            "h=0; t=0.05",
            "read -r u _ < /proc/uptime; e=$(( ${u%.*} + " + str(int(backstop_s)) + " ))",
            "while :; do",
            "  sleep $t; t=" + f"{poll_s:g}",
            "  r=$( s=Z; m=0; { while read -r k v _; do case $k in State:) s=$v;; VmHWM:) m=$v;; esac;"
            ' done; } 2>/dev/null < /proc/$p/status; echo "$s $m" )',
            "  case $r in ''|Z*|X*|x*) break;; esac",
            '  m=${r#* }; [ "$m" -gt "$h" ] 2>/dev/null && h=$m',
            *([f"  {sample}"] if sample else []),
            "  read -r u _ < /proc/uptime",
            '  [ "${u%.*}" -ge "$e" ] && kill -s KILL -- -$$ 2>/dev/null',
            "done",
        ]
    else:
        lines.append("h=")
    lines += [
        "wait $p; c=$?",
        *([sample] if sample else []),
        *(['read -r u _ < /proc/uptime; echo "E $u" >&3'] if tracefile else []),
        f"rm -f {q(pidfile)}",
        *(
            [
                f"printf '\\n%s\\n' {q(arrivals_marker(token))} >&2",
                f"cat {q(launcher[1])} >&2 2>/dev/null; rm -f {q(launcher[1])}",
            ]
            if launcher
            else []
        ),
        *([bracket[1]] if tracefile and bracket[1] else []),
        *(["exec 3>&-"] if tracefile else []),
        f"printf '\\n%s%s\\n' {q(rss_marker(token))} \"$h\" >&2",
        "exit $c",
    ]
    return "\n".join(lines)


#: Run as the program's own process before it execs the program: appends its allowed
#: cores to the trace file ($1), by name (mksh does not pass descriptor 3 on to children).
_REPORT_ALLOWED = (
    'f=$1; shift; while read -r k v _; do case $k in Cpus_allowed_list:) echo "A $v" >> "$f";;'
    ' esac; done < /proc/self/status; exec "$@" 3>&-'
)


def split_rss(stderr: bytes, token: str) -> tuple[bytes, int | None]:
    """Remove the wrapper's trailing peak-RSS line; return (stderr, peak bytes or None)."""
    marker = b"\n" + rss_marker(token).encode()
    at = stderr.rfind(marker)
    if at < 0:
        return stderr, None
    value = stderr[at + len(marker) :].strip()
    kb = int(value) if value.isdigit() else 0
    return stderr[:at], (kb * 1024 if kb > 0 else None)


def split_arrivals(stderr: bytes, token: str) -> tuple[bytes, bytes | None]:
    """Remove the wrapper's trailing arrivals block; return (stderr, the launcher's lines or None)."""
    marker = b"\n" + arrivals_marker(token).encode() + b"\n"
    at = stderr.rfind(marker)
    if at < 0:
        return stderr, None
    return stderr[:at], stderr[at + len(marker) :]


def kill_script(pidfile: str, leftovers: Sequence[str] = ()) -> str:
    """Kill a run's process group (TERM, then KILL); print ``gone`` or ``alive``.

    Dead processes awaiting their reaper (zombies) count as gone.  The files
    of ``leftovers`` (the run's arrivals file) are removed with the pidfile.
    """
    q = shlex.quote(pidfile)
    extra = "".join(f" {shlex.quote(p)}" for p in leftovers)
    return "\n".join(
        [
            f"[ -r {q} ] || {{ echo gone; exit 0; }}",
            f"read -r w p < {q}",
            "alive() { [ -d /proc/$p ] && ! grep -q '^State:.*Z' /proc/$p/status 2>/dev/null; }",
            "kill -s TERM -- -$w 2>/dev/null; kill -s TERM $p 2>/dev/null",
            "i=0; while [ $i -lt 20 ] && alive; do sleep 0.1; i=$((i+1)); done",
            # Whatever is left of the group (children that ignored TERM, the wrapper) goes now.
            "kill -s KILL -- -$w 2>/dev/null; kill -s KILL $p 2>/dev/null",
            "i=0; while [ $i -lt 20 ] && alive; do sleep 0.1; i=$((i+1)); done",
            f"rm -f {q}{extra}",
            "if alive; then echo alive; else echo gone; fi",
        ]
    )


# -- files ----------------------------------------------------------------------


def digest_script(path: str) -> str:
    """Print ``sha256 HEX`` (or ``md5 HEX`` when the device has no sha256sum, else ``none``)."""
    q = shlex.quote(path)
    return (
        f"if o=$(sha256sum {q} 2>/dev/null); then echo sha256 $o;"
        f" elif o=$(md5sum {q} 2>/dev/null); then echo md5 $o; else echo none; fi"
    )


def parse_digest(text: str) -> tuple[str, str] | None:
    words = text.split()
    if (
        len(words) >= 2
        and words[0] in ("sha256", "md5")
        and re.fullmatch(r"[0-9a-fA-F]+", words[1])
    ):
        return words[0], words[1].lower()
    return None


# -- facts and readings --------------------------------------------------------------

FACTS_SCRIPT = "\n".join(
    [
        "echo '@props'; getprop 2>/dev/null",
        "echo '@meminfo'; cat /proc/meminfo 2>/dev/null",
        "echo '@possible'; cat /sys/devices/system/cpu/possible 2>/dev/null",
        "echo '@nproc'; nproc 2>/dev/null",
        "echo '@freq'",
        "for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq; do"
        ' v=; read -r v < "$f" 2>/dev/null && echo "$f $v"; done',
        "echo '@uname'; uname -srm 2>/dev/null",
        # The CPU features line picks the runtime's cross-build (dotprod, i8mm, fp16...).
        "echo '@cpufeatures'",
        'while read -r k v; do case $k in Features|flags) echo "${v#: }"; break;; esac;'
        " done 2>/dev/null < /proc/cpuinfo",
    ]
)

#: One round trip: thermal zones, memory, load, battery.  Builtins only, except
#: ``dumpsys`` when the battery is not readable from sysfs.
READINGS_SCRIPT = "\n".join(
    [
        "for z in /sys/class/thermal/thermal_zone*; do"
        ' t=; y=; read -r t < "$z/temp" 2>/dev/null; read -r y < "$z/type" 2>/dev/null;'
        ' [ -n "$t" ] && echo "T ${z##*/} $t $y"; done',
        'while read -r k v _; do case $k in MemAvailable:|MemFree:) echo "M $k $v";; esac;'
        " done < /proc/meminfo",
        'read -r l _ < /proc/loadavg && echo "L $l"',
        "b=/sys/class/power_supply/battery",
        'if [ -r "$b/capacity" ]; then c=; s=; bt=; read -r c < "$b/capacity"; read -r s < "$b/status";'
        ' read -r bt < "$b/temp"; echo "B $c ${bt:-x} $s"; else echo "@dumpsys"; dumpsys battery 2>/dev/null; fi',
    ]
)


def parse_sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = sections.setdefault("", [])
    for line in text.splitlines():
        if line.startswith("@") and " " not in line.strip():
            current = sections.setdefault(line.strip()[1:], [])
        else:
            current.append(line)
    return sections


def parse_getprop(lines: Sequence[str]) -> dict[str, str]:
    props = {}
    for line in lines:
        m = re.match(r"\[([^\]]+)\]: \[(.*)\]\s*$", line)
        if m:
            props[m.group(1)] = m.group(2)
    return props


def _meminfo(lines: Sequence[str], key: str) -> int | None:
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == key + ":" and parts[1].isdigit():
            return int(parts[1]) * 1024
    return None


def _cpu_count(possible: Sequence[str], nproc: Sequence[str]) -> int:
    text = "".join(possible).strip()
    count = 0
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        if lo.isdigit() and (hi.isdigit() or not hi):
            count += int(hi or lo) - int(lo) + 1
    if count:
        return count
    n = "".join(nproc).strip()
    return int(n) if n.isdigit() else 0


def parse_facts(name: str, text: str) -> DeviceFacts:
    s = parse_sections(text)
    props = parse_getprop(s.get("props", []))
    freqs: dict[int, int] = {}
    for line in s.get("freq", []):
        m = re.search(r"/cpu(\d+)/cpufreq/cpuinfo_max_freq (\d+)", line)
        if m:
            freqs[int(m.group(1))] = int(m.group(2))
    release = props.get("ro.build.version.release", "")
    sdk = props.get("ro.build.version.sdk", "")
    soc = (
        props.get("ro.soc.model") or props.get("ro.board.platform") or props.get("ro.hardware", "")
    )
    if soc and props.get("ro.soc.manufacturer") and props.get("ro.soc.model"):
        soc = f"{props['ro.soc.manufacturer']} {soc}"
    extra = {
        k: v
        for k, v in {
            "fingerprint": props.get("ro.build.fingerprint", ""),
            "board": props.get("ro.board.platform", ""),
            "hardware": props.get("ro.hardware", ""),
            "abilist": props.get("ro.product.cpu.abilist", ""),
            "kernel": " ".join(s.get("uname", [])).strip(),
            "cpu_features": " ".join(s.get("cpufeatures", [])).strip(),
        }.items()
        if v
    }
    return DeviceFacts(
        name=name,
        kind="adb",
        model=props.get("ro.product.model", ""),
        manufacturer=props.get("ro.product.manufacturer", ""),
        soc=soc,
        abi=props.get("ro.product.cpu.abi", ""),
        os=f"Android {release}" + (f" (API {sdk})" if sdk else "") if release else "",
        cores=_cpu_count(s.get("possible", []), s.get("nproc", [])),
        max_freqs_khz=tuple(freqs[k] for k in sorted(freqs)),
        ram_bytes=_meminfo(s.get("meminfo", []), "MemTotal") or 0,
        extra=extra,
    )


def celsius(raw: str) -> float | None:
    """A sysfs temperature (millidegrees, or degrees on some zones) in degrees C, if plausible."""
    try:
        value = float(raw)
    except ValueError:
        return None
    if abs(value) >= 1000:
        value /= 1000.0
    return value if -30.0 <= value <= 150.0 else None


def parse_readings(text: str) -> dict[str, object]:
    """Fields for :class:`~pocketbench.core.api.model.Readings` (except ``time``)."""
    temps: dict[str, float] = {}
    mem: dict[str, int] = {}
    load = level = None
    charging: bool | None = None
    sections = parse_sections(text)
    for line in sections.get("", []):
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "T" and len(parts) >= 3:
            value = celsius(parts[2])
            if value is not None:
                kind = " ".join(parts[3:]) or parts[1]
                temps[f"{parts[1]}:{kind}"] = value
        elif parts[0] == "M" and len(parts) == 3 and parts[2].isdigit():
            mem[parts[1].rstrip(":")] = int(parts[2]) * 1024
        elif parts[0] == "L" and len(parts) == 2:
            load = _float(parts[1])
        elif parts[0] == "B" and len(parts) >= 3:
            # B CAPACITY TEMP(tenths of a degree) STATUS...
            level = int(parts[1]) if parts[1].isdigit() else None
            if parts[2].lstrip("-").isdigit():
                temps["battery"] = int(parts[2]) / 10.0
            if len(parts) >= 4:
                charging = " ".join(parts[3:]).lower() in ("charging", "full")
    if "dumpsys" in sections:
        fields = {}
        for line in sections["dumpsys"]:
            key, sep, value = line.strip().partition(":")
            if sep:
                fields[key.strip().lower()] = value.strip()
        if fields.get("level", "").isdigit():
            level = int(fields["level"])
        if fields.get("temperature", "").lstrip("-").isdigit():
            temps["battery"] = int(fields["temperature"]) / 10.0
        status = fields.get("status", "")
        if status.isdigit():
            charging = int(status) in (2, 5)  # BATTERY_STATUS_CHARGING, _FULL
        elif any(k.endswith("powered") for k in fields):
            charging = any(v == "true" for k, v in fields.items() if k.endswith("powered"))
    return {
        "temperatures_c": temps,
        "free_mem_bytes": mem.get("MemAvailable", mem.get("MemFree")),
        "load_avg": load,
        "battery_level": level,
        "charging": charging,
    }


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
