"""Real SIP peers for integration tests: pjsua2 phones in their own processes."""

from pathlib import Path

# sipvicious's tools with a bind address (Debian's 0.3 cannot bind one): run as a script by path
SIPVICIOUS_BOUND = Path(__file__).with_name("sipvicious_bound.py")
