"""What every phonebook source gives: (number, name) pairs, or a reason it could not."""

from __future__ import annotations

from typing import NamedTuple


class Listing(NamedTuple):
    number: str  # as the source wrote it
    name: str


class SourceFailed(Exception):
    """A source could not be read; the text says why for the status (no traceback)."""


def clean_name(name: str) -> str:
    """One line, no control characters, bounded: a name is shown in mail subjects and the page."""
    return " ".join("".join(c if c.isprintable() else " " for c in name).split())[:120]
