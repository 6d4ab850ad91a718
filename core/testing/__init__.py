"""Helpers for testing pocketbench and its plugins (fixtures, a loopback adb device)."""
