"""Which numbers the box may ever dial: the toll-fraud guard.

The box originates calls only to agents, and an agent's number is checked
against the patterns of its teams when the agent logs in, and again right
before the box dials it (defence in depth). A pattern is one of

- a regular expression, when it starts with ``^`` (matched in full):
  ``^[0-9]{2,4}$``;
- a SIP URI pattern, when it starts with ``sip:`` or ``sips:``: ``*`` stands
  for any user part, the host is literal: ``sip:*@vpn.example``;
- a dial pattern otherwise: ``x`` is one digit, everything else (digits,
  ``*``, ``#``, ``+``) literal: ``**62x``.

Without patterns a team allows ``DEFAULT``: internal extensions (two to six
digits not starting with 0, the usual outside-line prefix), FRITZ!Box style
``**`` internal numbers, and SIP URIs whose host is an address on a private
network and whose user part is a name or an internal extension. A premium
(0900...) or international (+44..., 0044...) number matches none of them,
not even inside a SIP URI to the PBX (``sip:0900123@192.168.1.1``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence

EXTENSION_RE = re.compile(r"^(?:[1-9][0-9]{1,5}|\*\*[0-9]{2,4})$")
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._\-]{0,63}$")
_SIP_URI_RE = re.compile(
    r"^(?P<scheme>sips?):(?P<user>[^@:;?\s]+)@(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)(?::(?P<port>\d{1,5}))?"
    r"(?P<params>(?:;[A-Za-z0-9\-_.!~*'()%]+(?:=[A-Za-z0-9\-_.!~*'()%]+)?)*)$"
)
_PRIVATE = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "fc00::/7", "fe80::/10", "::1/128")
]

Matcher = Callable[[str], bool]


def _private_host(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False  # a name could resolve anywhere
    return any(ip in net for net in _PRIVATE)


def default_match(number: str) -> bool:
    """Internal extensions, and SIP URIs to a private address with a harmless user part."""
    if EXTENSION_RE.match(number):
        return True
    m = _SIP_URI_RE.match(number)
    if m is None or not _private_host(m.group("host")):
        return False
    user = m.group("user")
    return bool(EXTENSION_RE.match(user) or NAME_RE.match(user))


def compile_pattern(pattern: str) -> Matcher:
    """A matcher for one admin pattern; ValueError names what is wrong."""
    pattern = pattern.strip()
    if not pattern:
        raise ValueError("an empty number pattern")
    if pattern == "default":
        return default_match
    if pattern.startswith("^"):
        try:
            rx = re.compile(pattern)
        except re.error as err:
            raise ValueError(f"{pattern!r} is not a regular expression: {err}") from None
        return lambda number: rx.fullmatch(number) is not None
    if pattern.lower().startswith(("sip:", "sips:")):
        scheme, _, rest = pattern.partition(":")
        user, at, host = rest.rpartition("@")
        if not at or not host or "*" in host:
            raise ValueError(f"{pattern!r}: a SIP URI pattern needs a literal host, like sip:*@vpn.example")
        user_rx = ".*".join(re.escape(p) for p in user.split("*")) if user else ""
        user_rx = user_rx.replace(".*", "[^@:;?\\s]+") if user == "*" else user_rx.replace(".*", "[^@:;?\\s]*")
        rx = re.compile(rf"^{re.escape(scheme.lower())}:{user_rx}@{re.escape(host.lower())}(?::\d{{1,5}})?(?:;.*)?$")
        return lambda number: rx.fullmatch(_lower_host(number)) is not None
    if not re.fullmatch(r"[0-9xX*#+]+", pattern):
        raise ValueError(f"{pattern!r}: a dial pattern has digits, x (any digit), *, # and + only")
    rx = re.compile("^" + "".join("[0-9]" if c in "xX" else re.escape(c) for c in pattern) + "$")
    return lambda number: rx.fullmatch(number) is not None


def _lower_host(uri: str) -> str:
    scheme, _, rest = uri.partition(":")
    user, at, host = rest.rpartition("@")
    return f"{scheme.lower()}:{user}{at}{host.lower()}" if at else uri.lower()


class NumberPolicy:
    """The numbers one team's agents may be reached at."""

    def __init__(self, patterns: Sequence[str] | None = None) -> None:
        self.patterns = list(patterns) if patterns is not None else ["default"]
        self._matchers = [compile_pattern(p) for p in self.patterns]

    def allows(self, number: str) -> bool:
        return any(match(number) for match in self._matchers)


class NumberPolicies:
    """Per team; a number must be allowed by every team it is used for."""

    def __init__(self, per_team: dict[str, Sequence[str] | None]) -> None:
        self._teams = {team: NumberPolicy(patterns) for team, patterns in per_team.items()}
        self._fallback = NumberPolicy()

    def allows(self, number: str, teams: Iterable[str]) -> bool:
        chosen = [self._teams.get(t, self._fallback) for t in teams] or [self._fallback]
        return all(policy.allows(number) for policy in chosen)


_DIAL_NOISE = re.compile(r"\(0\)|[\s\-/().]")  # "+49 (0)30 / 12-34": the trunk 0 in brackets is not dialled


def lookup_key(number: str, country: str = "49", area: str = "") -> str:
    """The one form a phone number is compared in (phonebook look-ups): international,
    ``+`` country code and national number, so ``+49 30 1234``, ``0049301234`` and
    ``030 1234`` (national, trunk prefix 0) are one key, ``+49301234``. A local number
    without an area code gets ``area`` (the box's own) when one is configured. A SIP
    URI counts by its user part; what is not a number (a name, ``anonymous``) is
    returned as it is, lower-cased, so it matches nothing but itself.
    """
    text = number.strip()
    if text.lower().startswith(("sip:", "sips:", "tel:")):
        text = text.partition(":")[2].partition("@")[0].partition(";")[0]
    text = _DIAL_NOISE.sub("", text)
    if not re.fullmatch(r"\+?[0-9]+", text):
        return text.lower()
    if text.startswith("+"):
        return text
    if text.startswith("00"):
        return "+" + text[2:]
    if text.startswith("0"):
        return f"+{country}{text[1:]}"
    if area:
        return f"+{country}{area.lstrip('0')}{text}"
    return text
