"""Fixtures the unit tests share; pytest finds them here by name (they live in tests/harness/)."""

from tests.harness.rtp import clock

__all__ = ["clock"]
