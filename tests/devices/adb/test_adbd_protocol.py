"""The loopback daemon speaks adb well enough for Debian's own ``adb`` client and adbutils."""

from __future__ import annotations

import adbutils
import pytest

pytestmark = pytest.mark.adb


def test_the_adb_command_line_client(phone, tmp_path):
    adb = phone.server
    r = adb.run("-s", phone.serial, "shell", "echo out; echo err >&2; exit 42")
    assert (r.stdout, r.stderr, r.returncode) == ("out\n", "err\n", 42)
    r = adb.run("-s", phone.serial, "shell", "-tt", "echo through a terminal")
    assert r.stdout.rstrip() == "through a terminal" and r.returncode == 0
    src = tmp_path / "hello.txt"
    src.write_text("hello\n")
    assert (
        adb.run("-s", phone.serial, "push", str(src), "/data/local/tmp/hello.txt").returncode == 0
    )
    assert (phone.daemon.sandbox / "hello.txt").read_text() == "hello\n"
    back = tmp_path / "back.txt"
    assert (
        adb.run("-s", phone.serial, "pull", "/data/local/tmp/hello.txt", str(back)).returncode == 0
    )
    assert back.read_text() == "hello\n"
    assert (
        adb.run("-s", phone.serial, "shell", "getprop", "ro.product.model").stdout
        == "Loopback A25\n"
    )
    assert "[ro.soc.model]: [LB1280]" in adb.run("-s", phone.serial, "shell", "getprop").stdout


def test_adbutils_sync_and_features(phone):
    dev = adbutils.AdbClient(port=phone.server_port).device(phone.serial)
    assert {"shell_v2", "stat_v2", "fixed_push_mkdir"} <= set(dev.get_features().split(","))
    dev.sync.push(b"payload", "/data/local/tmp/deep/dir/f.bin")
    assert dev.sync.read_bytes("/data/local/tmp/deep/dir/f.bin") == b"payload"
    assert [f.path for f in dev.sync.list("/data/local/tmp/deep/dir")][-1] == "f.bin"
    assert not dev.sync.exists("/data/local/tmp/nothing")
    assert dev.prop.model == "Loopback A25"
    # shell: (v1) goes through a PTY, which turns \n into \r\n, as on a phone.
    assert dev.shell("echo v1", rstrip=False) == "v1\r\n"
    with pytest.raises(adbutils.AdbError):
        dev.sync.read_bytes("/data/local/tmp/nothing")
    with pytest.raises(adbutils.AdbError):
        dev.open_transport("bogus-service:").close()
