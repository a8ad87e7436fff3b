"""Shared fixtures: real SIP phones (pjsua2 in child processes) and the daemon."""

from __future__ import annotations

from tests.harness.peers.fixtures import sip_phones

__all__ = ["sip_phones"]
