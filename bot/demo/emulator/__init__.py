"""Loopback emulators of the messaging platforms the bot talks to (for tests and demo)."""
