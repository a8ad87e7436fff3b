"""A phonebook uploaded as CSV: ``name;number`` per line (a spreadsheet's export).

UTF-8 (with or without BOM) or Windows-1252 (what Excel writes on a German PC); ``;``,
``,`` or a tab between the fields; a first line naming the columns (``Name;Nummer``)
is recognised and may put the number first. A file with broken lines is refused whole
with their line numbers, so what the office had stays until the file is fixed.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator

from zentrale.errors import Invalid
from zentrale.phonebook.sources import Listing, clean_name

NAME_WORDS = ("name", "kontakt", "contact", "firma", "company")
NUMBER_WORDS = ("nummer", "number", "telefon", "phone", "tel", "rufnummer", "mobil", "handy")
NUMBER_RE = re.compile(r"^\+?[0-9 ()/.\-]{3,40}$")
SHOWN_BROKEN = 10  # the refusal names this many broken lines
# a line with its ending, as io.StringIO(text, newline="") gives them (what csv needs)
LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


class CsvRefused(Invalid):
    """An uploaded CSV phonebook the box cannot take (the text says which lines and why)."""


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise CsvRefused("the CSV file is neither UTF-8 nor Windows-1252 text") from None


def _delimiter(first: str) -> str:
    counts = {d: first.count(d) for d in (";", "\t", ",")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ";"


def _header(row: list[str]) -> tuple[int, int] | None:
    """(name column, number column) when ``row`` names the columns, else None."""
    cells = [c.strip().lower() for c in row]
    if any(NUMBER_RE.match(c) for c in cells):
        return None
    name = next((i for i, c in enumerate(cells) if any(w in c for w in NAME_WORDS)), None)
    number = next((i for i, c in enumerate(cells) if any(w in c for w in NUMBER_WORDS)), None)
    if name is None and number is None:
        return None
    if name is None:
        name = 1 if number == 0 else 0
    if number is None:
        number = 1 if name == 0 else 0
    return name, number


def _lines(text: str) -> Iterator[str]:
    """The lines one by one. Not ``splitlines`` or ``io.StringIO``: for 100,000 lines each is one
    call of 4-9 ms that holds the GIL, and the event loop (the media clock) waits that long."""
    return (match.group() for match in LINE_RE.finditer(text))


def parse_csv(data: bytes, max_bytes: int) -> list[Listing]:
    """The entries of an uploaded file; CsvRefused names the broken lines (1-based)."""
    if len(data) > max_bytes:
        raise CsvRefused(f"the CSV file is larger than {max_bytes // 1000} KB")
    text = decode(data)
    first = next((line for line in _lines(text) if line.strip()), "")
    if not first:
        raise CsvRefused("the CSV file has no entries")
    reader = csv.reader(_lines(text), delimiter=_delimiter(first))
    columns = (0, 1)
    entries: list[Listing] = []
    broken: list[int] = []
    seen_first = False
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if not seen_first:
            seen_first = True
            header = _header(row)
            if header is not None:
                columns = header
                continue
        name_at, number_at = columns
        name = clean_name(row[name_at]) if len(row) > name_at else ""
        number = row[number_at].strip() if len(row) > number_at else ""
        if name and NUMBER_RE.match(number) and re.search(r"[0-9]{3}", re.sub(r"\D", "", number)):
            entries.append((number, name))
        else:
            broken.append(line)
    if broken:
        # line numbers only, no English words: the page translates the sentence around them
        listed = ", ".join(str(n) for n in broken[:SHOWN_BROKEN]) + (", …" if len(broken) > SHOWN_BROKEN else "")
        raise CsvRefused(f"the CSV file has {len(broken)} broken lines (each needs a name and a number): {listed}")
    if not entries:
        raise CsvRefused("the CSV file has no entries")
    return entries
