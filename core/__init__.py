"""The pocketbench host: hook specifications, plugin manager, data model, devices, runner, store, CLI."""
