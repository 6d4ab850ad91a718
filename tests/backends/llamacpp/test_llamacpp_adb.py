"""The backend on an adb device: Debian's adb server and a loopback phone.

The loopback phone runs commands on this host, so the host's build stands in
for an Android build directory (``--llamacpp-bin``); everything else (push
over the sync protocol, the executable bit, argv quoting through the shell
protocol, peak RSS from the device) is the real adb path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pocketbench.testing.phone.adbhost import attached_phone, find_adb

pytestmark = [
    pytest.mark.adb,
    pytest.mark.slow,
    pytest.mark.skipif(
        find_adb() is None, reason="Debian's adb is not installed: apt-get install -y adb"
    ),
]


def test_tiny_q4_0_on_a_phone(pm, job, tmp_path: Path) -> None:
    from pocketbench.backends.llamacpp import build
    from pocketbench.core.devices import open_device

    built = build.ensure_built()
    text = "Quote $(this) and `that`; 'single' \"double\" | & > < * ?"
    j = job(
        quant="q4_0",
        prompt=text,
        prompt_tokens=24,
        gen_tokens=8,
        options={"llamacpp_bin": built, "crosscheck": "1"},
    )
    with attached_phone(tmp_path / "phone") as phone:
        device = open_device(f"adb:{phone.serial}", adb_port=phone.server_port)
        try:
            prepared = pm.hook.pocketbench_prepare(job=j, device=device)
            st = prepared.state
            assert st.argv[0].startswith("/data/local/tmp/")
            assert st.model_device.startswith("/data/local/tmp/")
            landed = phone.daemon.sandbox / st.model_device[len("/data/local/tmp/") :]
            assert landed.read_bytes() == Path(prepared.describe["model_file"]).read_bytes()
            result = pm.hook.pocketbench_run(job=j, device=device, prepared=prepared, index=0)
            assert result.ok, result.stderr[-500:]
            m = pm.hook.pocketbench_parse(job=j, prepared=prepared, result=result)
            assert (m.prompt_tokens, m.gen_tokens) == (24, 8)
            assert m.generation_tps > 0 and "llamabench_tg_tps" in m.extra
            # A second prepare finds everything on the phone already.
            sent = phone.daemon.bytes_received
            pm.hook.pocketbench_prepare(job=j, device=device)
            assert phone.daemon.bytes_received - sent < 4096  # only tiny prompt files at most
        finally:
            device.close()
