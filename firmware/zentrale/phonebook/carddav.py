"""A CardDAV address book (RFC 6352), read with one ``addressbook-query`` REPORT.

Our own few lines over ``httpx`` rather than a CardDAV library: the box only reads
names and numbers, one request (RFC 6352 §8.6, filtered to cards with a TEL, §10.5.1)
gives every card's vCard, and the maintained DAV libraries bring a tree of
dependencies for features we do not use. vCard (RFC 6350): lines unfolded (§3.2),
``FN`` (or ``N``, or ``ORG``) as the name, every ``TEL`` value (``tel:`` URIs too).
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

import httpx

from zentrale.config import CardDavConfig
from zentrale.phonebook.sources import Listing, SourceFailed, clean_name

QUERY = b"""<?xml version="1.0" encoding="utf-8"?>
<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:getetag/><C:address-data/></D:prop>
  <C:filter><C:prop-filter name="TEL"/></C:filter>
</C:addressbook-query>"""
ADDRESS_DATA = "{urn:ietf:params:xml:ns:carddav}address-data"
MAX_BYTES = 50_000_000  # a multistatus larger than this is not an office's address book
WHOLE_ANSWER = 4  # times the timeout (which httpx applies to each read) the whole answer may take


def read_carddav(config: CardDavConfig) -> list[Listing]:
    auth = httpx.BasicAuth(config.user, config.password) if config.user else None
    where = config.url
    # httpx's timeout is per read: a server that sends a byte now and then would hold the refresh
    # thread for ever, and one that never stops would fill the memory; both are cut here
    deadline = time.monotonic() + WHOLE_ANSWER * config.timeout
    try:
        with (
            httpx.Client(auth=auth, verify=config.verify_tls, timeout=config.timeout) as client,
            client.stream(
                "REPORT", config.url, content=QUERY,
                headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
            ) as answer,
        ):  # fmt: skip
            if answer.status_code in (401, 403):
                raise SourceFailed(f"the CardDAV server at {where} refused user '{config.user or ''}': wrong password?")
            if answer.status_code != 207:
                raise SourceFailed(f"the CardDAV server at {where} answered {answer.status_code}, not an address book")
            body = bytearray()
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise SourceFailed(f"the address book at {where} is larger than {MAX_BYTES // 1_000_000} MB")
                if time.monotonic() > deadline:
                    raise SourceFailed(
                        f"the CardDAV server at {where} did not send its whole answer within "
                        f"{WHOLE_ANSWER * config.timeout:g} s"
                    )
    except httpx.TimeoutException:
        raise SourceFailed(f"the CardDAV server at {where} did not answer within {config.timeout:g} s") from None
    except httpx.HTTPError as err:
        raise SourceFailed(f"the CardDAV server at {where} cannot be reached: {type(err).__name__}") from None
    try:
        root = ET.fromstring(bytes(body))
    except ET.ParseError as err:
        raise SourceFailed(f"the CardDAV server at {where} sent no readable XML: {err}") from None
    entries: list[Listing] = []
    for data in root.iter(ADDRESS_DATA):
        entries.extend(vcard_listings(data.text or ""))
    return entries


def _unfold(text: str) -> list[str]:
    return re.sub(r"\r?\n[ \t]", "", text).splitlines()


def _value(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), text)


def vcard_listings(text: str) -> list[Listing]:
    """(number, name) for every TEL of every card in ``text``."""
    listings: list[Listing] = []
    name, fallback, numbers = "", "", list[str]()
    for line in _unfold(text):
        head, colon, value = line.partition(":")
        if not colon:
            continue
        prop = head.split(";")[0].split(".")[-1].upper()  # "item1.TEL;TYPE=work" -> TEL
        if prop == "BEGIN" and value.strip().upper() == "VCARD":
            name, fallback, numbers = "", "", list[str]()
        elif prop == "FN":
            name = clean_name(_value(value))
        elif prop == "N" and not fallback:
            family, _, rest = value.partition(";")
            given = rest.partition(";")[0]
            fallback = clean_name(f"{_value(given)} {_value(family)}")
        elif prop == "ORG" and not fallback:
            fallback = clean_name(_value(value.split(";")[0]))
        elif prop == "TEL":
            number = value.strip()
            numbers.append(number[4:] if number.lower().startswith("tel:") else number)
        elif prop == "END" and value.strip().upper() == "VCARD":
            who = name or fallback
            listings.extend((n, who) for n in numbers if n and who)
    return listings
