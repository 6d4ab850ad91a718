"""Devices a backend runs on: the local host and Android phones over adb."""
