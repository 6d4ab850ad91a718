"""The pocketbench host: hookspecs, plugin manager, data model, devices, runner, store, CLI."""
