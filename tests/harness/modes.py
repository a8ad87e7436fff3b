"""Mode documents the tests share: the demo mode with short waits, the office's mode, a mode
that goes straight to the message. Each returns a fresh dict a test may change."""

from __future__ import annotations

from typing import Any

import yaml

from tests.harness.daemon import DEMO


def demo_mode() -> dict[str, Any]:
    """The shipped demo mode document as a dict, for a test to shorten its waits."""
    return yaml.safe_load((DEMO / "hotline.yaml").read_text(encoding="utf-8"))


def fast_mode() -> dict[str, Any]:
    """The demo mode with short waits, so a test walks it in seconds."""
    mode = demo_mode()
    nodes = mode["nodes"]
    nodes["queue_lvs"]["hold"] = [
        {"announcement": "hold_notice"},
        {"music": "music_a", "seconds": 3},
        {"announcement": "hold_notice"},
        {"music": "music_a", "seconds": 4},
    ]
    nodes["queue_pc"]["hold"] = [{"announcement": "hold_notice"}, {"music": "music_c", "seconds": 4}]
    nodes["queue_pc"]["max_wait"] = 12  # the customer's 5 minutes, shortened by configuration
    for vm in ("voicemail_lvs", "voicemail_sap", "voicemail_pc"):
        nodes[vm]["silence_seconds"] = 2
    return mode


def office_mode() -> dict[str, Any]:
    """The fast mode for the office tests: team LVS waits a long minute of music (an agent is
    pulled meanwhile); team PC keeps the fast mode's 12 s maximum wait (the customer's five
    minutes, on a ManualClock in tests/unit), long enough for its agents to be tried in turn
    (busy at once, 5 s unanswered, then one who answers)."""
    mode = fast_mode()
    mode["nodes"]["queue_lvs"]["hold"] = [{"announcement": "hold_notice"}, {"music": "music_a", "seconds": 60}]
    return mode


def straight_to_voicemail() -> dict[str, Any]:
    """A mode that offers the message at once: the mail tests need no queue."""
    return {
        "name": "Mail test",
        "start": "leave_message",
        "nodes": {
            "leave_message": {"type": "voicemail", "team": "sap", "silence_seconds": 1.5, "next": "bye"},
            "bye": {"type": "hangup"},
        },
    }


def web_mode() -> dict[str, Any]:
    """The office of the web page tests."""
    mode = office_mode()
    # team SAP: straight to the message offer after a short hold (for the viewer test)
    mode["nodes"]["queue_sap"]["hold"] = [{"announcement": "hold_notice"}, {"music": "music_b", "seconds": 1}]
    return mode
