"""What every phonebook source gives: (number, name) pairs, or a reason it could not."""

from __future__ import annotations

# (number as the source wrote it, name). A plain tuple of strings, which the cyclic garbage
# collector stops tracking at its first look; it tracks a NamedTuple's for ever (only exact
# tuples are untracked): 100,000 of them from a CSV upload made every full collection walk
# them, 33-63 ms with the event loop waiting (bench/phonebook.py).
Listing = tuple[str, str]


class SourceFailed(Exception):
    """A source could not be read; the text says why for the status (no traceback)."""


def clean_name(name: str) -> str:
    """One line, no control characters, bounded: a name is shown in mail subjects and the page."""
    return " ".join("".join(c if c.isprintable() else " " for c in name).split())[:120]
