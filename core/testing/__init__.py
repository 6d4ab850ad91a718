"""Helpers for testing pocketbench and its plugins; importable without pytest.

- :mod:`~pocketbench.testing.inprocess`: ``measure()`` runs a backend plugin in-process,
  as ``bench run`` would, into a real SQLite store.
- :mod:`~pocketbench.testing.backends`: ``FakeBackend``, whose runs are real child processes.
- :mod:`~pocketbench.testing.devices`: ``FakePhone``, a device that is not this host
  (a backend's refusal of phones, or its push-and-run path, without a phone).
- :mod:`~pocketbench.testing.cli`: run the installed ``bench`` and wait for stored runs.
- :mod:`~pocketbench.testing.phone.adbhost`: a loopback phone (``adbd``) behind Debian's real adb server.
- :mod:`~pocketbench.testing.fabricated`: a results file with made-up runs, for reporters.
- :mod:`~pocketbench.testing.latex`: compile LaTeX output with the real pdflatex.
- :mod:`~pocketbench.testing.wait`: wait for a condition, never for a fixed time.
"""
