"""The hook markers: one project name for the manager, the specifications and the plugins.

A plugin marks its implementations with :data:`hookimpl` (re-exported by
:mod:`pocketbench.plugin`); the specifications themselves live in
:mod:`pocketbench.core.engine.hookspecs`, beside the registry that loads
them, because they name the devices and the report model below the engine.
"""

from __future__ import annotations

import pluggy

PROJECT = "pocketbench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
