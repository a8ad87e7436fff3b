"""E-mail addresses of distribution lists: one strict, readable check.

Accepts what an office types into a distribution list: ``local@domain.tld``
with the dot-atom local part of RFC 5322 §3.4.1 and a DNS host name
(RFC 1035 §2.3.1 labels). Refused with a reason a person understands:
display names (``Name <a@b.de>``), quoted local parts, address literals
(``a@[10.0.0.1]``), non-ASCII addresses (write the domain in its
``xn--`` form), and domains without a dot (usually a typo).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# RFC 5322 §3.2.3 atext, without the quoted-string and comment forms
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"^{_ATEXT}(\.{_ATEXT})*$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
MAX_ADDRESS = 254  # RFC 5321 §4.5.3.1.3 path limit less the angle brackets
MAX_LOCAL = 64  # RFC 5321 §4.5.3.1.1


def address_problem(address: str) -> str | None:
    """Why ``address`` is not usable, or None when it is."""
    if not isinstance(address, str) or not address.strip():
        return "an address is empty"
    if address != address.strip():
        return f"{address!r} has spaces around it"
    if "<" in address or ">" in address:
        return f"{address!r}: write only the address, like team@example.com, without a name or <>"
    if any(c.isspace() for c in address):
        return f"{address!r} has a space in it; an address looks like team@example.com"
    if not address.isascii():
        return f"{address!r} has non-ASCII characters; write the domain in its xn-- form"
    if address.count("@") != 1:
        return f"{address!r} is not an address like team@example.com (it needs exactly one @)"
    if len(address) > MAX_ADDRESS:
        return f"{address!r} is longer than {MAX_ADDRESS} characters"
    local, domain = address.split("@")
    if not local:
        return f"{address!r} has nothing before the @"
    if len(local) > MAX_LOCAL:
        return f"{address!r}: the part before the @ is longer than {MAX_LOCAL} characters"
    if not _LOCAL.match(local):
        return f"{address!r}: the part before the @ has a character that is not allowed or a misplaced dot"
    if not domain:
        return f"{address!r} has no domain after the @"
    if domain.startswith("["):
        return f"{address!r}: IP address literals are not supported, use a host name"
    labels = domain.split(".")
    if len(labels) < 2:
        return f"{address!r}: the domain {domain!r} has no dot (like example.com); is a part missing?"
    for label in labels:
        if not _LABEL.match(label):
            return f"{address!r}: {label!r} is not a valid part of a domain name"
    if labels[-1].isdigit():
        return f"{address!r}: the domain {domain!r} ends in a number; use a host name"
    return None


def check_addresses(addresses: Iterable[str]) -> list[str]:
    """Validate a distribution list; raise ValueError naming the first bad entry.

    Returns the list without duplicates (compared case-insensitively), in order.
    """
    seen: set[str] = set()
    out: list[str] = []
    for address in addresses:
        problem = address_problem(address)
        if problem is not None:
            raise ValueError(problem)
        key = address.lower()
        if key not in seen:
            seen.add(key)
            out.append(address)
    return out
