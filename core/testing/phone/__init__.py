"""The loopback phone: a device-side adb daemon and its emulated hardware, on 127.0.0.1.

:mod:`~pocketbench.testing.phone.adbhost` starts it behind Debian's real adb server.
"""
