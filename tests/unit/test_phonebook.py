"""Caller names from the office's phonebooks (issue 16, 5): numbers compared in one form, the
CSV upload, the FRITZ!Box over real TR-064 (tests/harness/tr064.py, spoken to by
fritzconnection), a real CardDAV server (Radicale), the cache kept when a source fails."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import http.server
import logging
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.harness.carddav import CardDavServer, running_radicale, vcard
from tests.harness.tr064 import FritzBox, running_fritzbox
from tests.harness.waits import until
from zentrale.config import CardDavConfig, FritzboxPhonebookConfig, PhonebookConfig
from zentrale.core.clock import ManualClock
from zentrale.core.numbers import lookup_key
from zentrale.phonebook.csvfile import CsvRefused, parse_csv
from zentrale.phonebook.service import Phonebook
from zentrale.store.db import Database
from zentrale.store.phonebook import PhonebookRepository
from zentrale.web.refusals import classify

LIMIT = 5_000_000
OFFICE = [("Müller Haustechnik GmbH", ["030 1234", "+49 171 5550000"]), ("Anna Schmidt", ["089 1234567"])]


# --- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    ["+49 30 1234", "0301234", "030 / 12 34", "0049301234", "+49 (0)30 1234", "030-1234", "sip:+49301234@pbx.lan"],
)
def test_a_number_written_nationally_or_internationally_is_one_key(written: str) -> None:
    assert lookup_key(written) == "+49301234"


def test_a_local_number_gets_the_boxs_area_code_and_a_name_stays_a_name() -> None:
    assert lookup_key("1234", area="030") == "+49301234"
    assert lookup_key("1234") == "1234"
    assert lookup_key("0 41 22", country="43") == "+434122"
    assert lookup_key("anonymous") == "anonymous"


# --- CSV -----------------------------------------------------------------------------------


def test_a_spreadsheet_export_in_windows_1252_with_a_header_is_read() -> None:
    data = "Name;Telefonnummer\r\nMüller Haustechnik;030 1234\r\n\r\nJörg Weiß;+49 171 5550000\r\n".encode("cp1252")
    entries = parse_csv(data, LIMIT)
    assert [(name, number) for number, name in entries] == [
        ("Müller Haustechnik", "030 1234"),
        ("Jörg Weiß", "+49 171 5550000"),
    ]


def test_a_utf8_file_with_the_number_first_and_commas_is_read_by_its_header() -> None:
    data = '\ufeffRufnummer,Kontakt\n0301234,Anna Schmidt\n"089 123","Weber, Hans"\n'.encode()
    assert [(name, number) for number, name in parse_csv(data, LIMIT)] == [
        ("Anna Schmidt", "0301234"),
        ("Weber, Hans", "089 123"),
    ]


def test_a_file_without_a_header_is_name_then_number() -> None:
    assert [(name, number) for number, name in parse_csv(b"Anna;0301234\nBernd;0401234\n", LIMIT)] == [
        ("Anna", "0301234"),
        ("Bernd", "0401234"),
    ]


def test_old_mac_line_ends_and_a_name_quoted_over_two_lines_are_read_and_counted_like_others() -> None:
    data = b'Name,Nummer\r"Weber,\r\nHans",089 123\r\rAnna,0301234\rBernd\r'
    with pytest.raises(CsvRefused) as refused:
        parse_csv(data, LIMIT)
    assert str(refused.value).endswith(": 6")  # the header, two lines of Weber, a blank one, Anna, then Bernd
    assert parse_csv(data[: -len(b"Bernd\r")], LIMIT) == [("089 123", "Weber, Hans"), ("0301234", "Anna")]


def test_the_entries_of_a_big_upload_are_nothing_the_garbage_collector_walks() -> None:
    # plain tuples of strings are untracked at the first collection; a NamedTuple's never are:
    # 100,000 of them made every full collection 30-60 ms longer, with the event loop waiting
    entries = parse_csv(b"".join(b"Kunde %d;030 %d\n" % (i, 1_000_000 + i) for i in range(1000)), LIMIT)
    gc.collect()
    assert len(entries) == 1000 and not any(gc.is_tracked(entry) for entry in entries)


def test_broken_lines_refuse_the_whole_file_naming_each_line() -> None:
    data = b"Name;Nummer\nAnna;0301234\nBernd\n;0401234\nCarl;keine Nummer\nDora;0501234\n"
    with pytest.raises(CsvRefused) as refused:
        parse_csv(data, LIMIT)
    text = str(refused.value)
    assert text == "the CSV file has 3 broken lines (each needs a name and a number): 3, 4, 5"
    assert classify(text, refused.value) == ("phonebook_csv_broken", {"count": "3", "lines": "3, 4, 5"})


def test_many_broken_lines_are_counted_not_all_listed() -> None:
    data = b"".join(b"x%d;nothing\n" % i for i in range(40))
    with pytest.raises(CsvRefused, match=r"has 40 broken lines .*: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, …$"):
        parse_csv(data, LIMIT)


def test_a_10_mb_file_is_refused_before_it_is_read() -> None:
    data = b"Anna;0301234\n" * (10_000_000 // 13 + 1)
    with pytest.raises(CsvRefused) as refused:
        parse_csv(data, LIMIT)
    assert classify(str(refused.value), refused.value) == ("phonebook_csv_too_large", {"kb": "5000"})


@pytest.mark.parametrize("data", [b"", b"\n\n  \n", b"Name;Nummer\n"])
def test_an_empty_file_is_refused(data: bytes) -> None:
    with pytest.raises(CsvRefused, match="no entries"):
        parse_csv(data, LIMIT)


def test_binary_data_is_neither_utf8_nor_windows_1252() -> None:
    with pytest.raises(CsvRefused, match="neither UTF-8 nor Windows-1252"):
        parse_csv(b"Anna;030\x81\x8d1234\xff\xfe\n", LIMIT)


# --- the service: sources, cache, look-up --------------------------------------------------


@pytest.fixture
def fritzbox() -> Iterator[FritzBox]:
    with running_fritzbox(Telefonbuch=OFFICE, Privat=[("Oma", ["0221 998877"])]) as box:
        yield box


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[CardDavServer]:
    with running_radicale(tmp_path / "radicale") as server:
        server.put(vcard("Erika Mustermann", "+49 40 555 0101"))
        server.put(vcard("Doppelt Eingetragen", "030 1234"))
        yield server


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "z.db")
    await database.open()
    yield database
    await database.close()


def box_config(box: FritzBox, **changes: object) -> FritzboxPhonebookConfig:
    settings = {"address": "127.0.0.1", "port": box.port, "user": box.user, "password": box.password, "timeout": 5}
    return FritzboxPhonebookConfig.model_validate(settings | changes)


def dav_config(server: CardDavServer) -> CardDavConfig:
    return CardDavConfig(url=server.url, user=server.user, password=server.password, timeout=5)


def source(book: Phonebook, name: str) -> dict[str, object]:
    return next(s for s in book.status()["sources"] if s["source"] == name)


async def test_the_fritzbox_phonebooks_name_callers_however_their_number_is_written(
    fritzbox: FritzBox, db: Database
) -> None:
    book = Phonebook(PhonebookConfig(fritzbox=box_config(fritzbox)), PhonebookRepository(db), ManualClock())
    await book.refresh()
    assert book.lookup("+49 30 1234") == "Müller Haustechnik GmbH"
    assert book.lookup("0301234") == "Müller Haustechnik GmbH"
    assert book.lookup("01715550000") == "Müller Haustechnik GmbH"
    assert book.lookup("+492219988 77") == "Oma"  # the second phonebook too
    assert book.lookup("0301235") is None
    assert source(book, "fritzbox") | {"checked_at": None, "refreshed_at": None} == {
        "source": "fritzbox", "configured": True, "entries": 4, "origin": "127.0.0.1", "error": None, "ok": True,
        "checked_at": None, "refreshed_at": None,
    }  # fmt: skip


async def test_a_fritzbox_that_is_down_or_refuses_the_password_keeps_the_cached_names(
    fritzbox: FritzBox, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    repo = PhonebookRepository(db)
    book = Phonebook(PhonebookConfig(fritzbox=box_config(fritzbox)), repo, ManualClock())
    await book.refresh()
    fritzbox.password = "changed-on-the-box"
    caplog.set_level(logging.INFO)
    await book.refresh()
    await book.refresh()
    state = source(book, "fritzbox")
    assert state["error"] == (
        f"the FRITZ!Box at 127.0.0.1:{fritzbox.port} refused user 'zentrale': wrong password, or the user may not "
        "read the phonebooks"
    )
    assert state["ok"] is False and state["entries"] == 4
    assert book.lookup("0301234") == "Müller Haustechnik GmbH"
    fritzbox.down()
    await book.refresh()
    await book.refresh()
    assert source(book, "fritzbox")["error"] == f"the FRITZ!Box at 127.0.0.1:{fritzbox.port} cannot be reached"
    assert book.lookup("0301234") == "Müller Haustechnik GmbH"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, warnings  # once per reason, not per refresh
    assert all("keeping the 4 cached numbers" in w for w in warnings)
    assert not any(r.exc_info for r in caplog.records)
    # a restart without the box: the names come from the cache, no network on the way
    again = Phonebook(PhonebookConfig(fritzbox=box_config(fritzbox)), repo, ManualClock())
    await again.load()
    assert again.lookup("+49 30 1234") == "Müller Haustechnik GmbH"
    # the FRITZ!Box taken out of the configuration: its copy goes at the next start
    without = Phonebook(PhonebookConfig(), repo, ManualClock())
    await without.load()
    assert without.lookup("+49 30 1234") is None
    assert await repo.names_by_source() == {}


async def test_a_carddav_address_book_names_callers_and_the_csv_upload_wins_over_it(
    radicale: CardDavServer, db: Database
) -> None:
    book = Phonebook(PhonebookConfig(carddav=dav_config(radicale)), PhonebookRepository(db), ManualClock())
    await book.refresh()
    assert source(book, "carddav")["error"] is None
    assert book.lookup("040 5550101") == "Erika Mustermann"
    assert book.lookup("0301234") == "Doppelt Eingetragen"
    await book.upload_csv("Name;Nummer\nMüller (aus der Liste);+49301234\n".encode(), "kunden.csv")
    assert book.lookup("0301234") == "Müller (aus der Liste)"
    assert book.status()["numbers"] == 2
    await book.remove_csv()
    assert book.lookup("0301234") == "Doppelt Eingetragen"


async def test_a_wrong_carddav_password_is_a_clear_status(radicale: CardDavServer, db: Database) -> None:
    config = dav_config(radicale).model_copy(update={"password": "falsch"})
    book = Phonebook(PhonebookConfig(carddav=config), PhonebookRepository(db), ManualClock())
    await book.refresh()
    assert (
        source(book, "carddav")["error"]
        == f"the CardDAV server at {radicale.url} refused user 'office': wrong password?"
    )


async def test_a_broken_upload_changes_nothing(db: Database) -> None:
    book = Phonebook(PhonebookConfig(), PhonebookRepository(db), ManualClock())
    await book.upload_csv(b"Anna;0301234\n", "alt.csv")
    with pytest.raises(CsvRefused):
        await book.upload_csv(b"Bernd;0401234\nkaputt\n", "neu.csv")
    assert book.lookup("0301234") == "Anna" and book.lookup("0401234") is None
    assert source(book, "csv")["origin"] == "alt.csv"


async def test_100000_entries_are_taken_and_found(db: Database) -> None:
    data = "".join(f"Kunde {i};030 {1000000 + i}\n" for i in range(100_000)).encode()
    book = Phonebook(PhonebookConfig(), PhonebookRepository(db), ManualClock())
    status = await book.upload_csv(data, "gross.csv")
    assert status["numbers"] == 100_000
    assert book.lookup("+49 30 1099999") == "Kunde 99999"
    again = Phonebook(PhonebookConfig(), PhonebookRepository(db), ManualClock())
    await again.load()
    assert again.lookup("0301000000") == "Kunde 0"


async def test_a_call_gets_the_phonebook_name_else_keeps_its_sip_display_name(db: Database) -> None:
    book = Phonebook(PhonebookConfig(), PhonebookRepository(db), ManualClock())
    await book.upload_csv(b"Anna Schmidt;0301234\n", "liste.csv")
    seen = []
    incoming = book.naming(seen.append)
    incoming(SimpleNamespace(caller="+49301234", caller_name="030 1234"))
    incoming(SimpleNamespace(caller="0401234", caller_name="Bernd vom Handy"))
    incoming(SimpleNamespace(caller="anonymous", caller_name=None))
    assert [c.caller_name for c in seen] == ["Anna Schmidt", "Bernd vom Handy", None]


async def test_the_sources_are_read_again_every_refresh_minutes(fritzbox: FritzBox, db: Database) -> None:
    clock = ManualClock()
    config = PhonebookConfig(fritzbox=box_config(fritzbox), refresh_minutes=30)
    book = Phonebook(config, PhonebookRepository(db), clock)
    book.start()
    try:
        await until(lambda: source(book, "fritzbox")["checked_at"], 20, "the first refresh (a worker thread)")
        first = fritzbox.soap_requests
        assert first > 0 and book.lookup("0301234")
        fritzbox.phonebooks[0][1].append(("Neu Kunde", ["0351 777"]))
        await clock.advance(30 * 60)
        await until(lambda: book.lookup("0351777"), 20, "the second refresh")
        assert book.lookup("0351 777") == "Neu Kunde"
    finally:
        await book.stop()


async def test_sources_set_in_the_page_replace_the_config_files_and_survive_a_restart(
    fritzbox: FritzBox, db: Database
) -> None:
    repo = PhonebookRepository(db)
    book = Phonebook(PhonebookConfig(), repo, ManualClock())
    await book.load()
    status = await book.save_settings(box_config(fritzbox), None)
    assert status["numbers"] == 4 and book.lookup("0301234") == "Müller Haustechnik GmbH"
    shown = book.settings()
    assert shown["from"] == "web" and shown["carddav"] is None
    assert shown["fritzbox"]["password_set"] is True and "password" not in shown["fritzbox"]
    # saved again without the password (the form never shows it): the one in force stays
    await book.save_settings(box_config(fritzbox, password=""), None)
    assert source(book, "fritzbox")["error"] is None
    # a restart: the page's sources win over the config file's (which has none here)
    again = Phonebook(PhonebookConfig(), repo, ManualClock())
    await again.load()
    assert again.settings()["from"] == "web" and again.lookup("+49 30 1234") == "Müller Haustechnik GmbH"
    assert "fritzbox" in again.readers
    # the source taken out in the page: no longer read, its names gone
    await again.save_settings(None, None)
    assert again.lookup("0301234") is None and source(again, "fritzbox")["configured"] is False
    await book.stop()
    await again.stop()


async def test_a_hanging_fritzbox_holds_up_neither_a_csv_upload_nor_the_look_ups(
    fritzbox: FritzBox, db: Database
) -> None:
    book = Phonebook(PhonebookConfig(fritzbox=box_config(fritzbox, timeout=60)), PhonebookRepository(db), ManualClock())
    await book.refresh()
    fritzbox.answering.clear()
    try:
        refreshing = asyncio.ensure_future(book.refresh())
        await until(lambda: fritzbox.parked, 20, "the refresh hanging at the FRITZ!Box")
        await asyncio.wait_for(book.upload_csv(b"Anna;0401234\n", "liste.csv"), 10)
        assert book.lookup("0401234") == "Anna" and book.lookup("0301234") == "Müller Haustechnik GmbH"
        assert not refreshing.done()
    finally:
        fritzbox.answering.set()
    await asyncio.wait_for(refreshing, 20)
    assert source(book, "fritzbox")["error"] is None


class _HostileDav(http.server.BaseHTTPRequestHandler):
    """A "CardDAV server" that answers 207 and then either never stops sending (``/endless``)
    or sends one byte now and then, each within the per-read timeout (``/drip``)."""

    def do_REPORT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(207)
        self.send_header("Content-Type", "application/xml")
        self.end_headers()
        chunk = b"<x>" + b"A" * 65_533
        with contextlib.suppress(OSError):  # the box hangs up on it
            while True:
                self.wfile.write(chunk if self.path == "/endless" else b" ")
                if self.path == "/drip":
                    self.wfile.flush()
                    time.sleep(0.2)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def hostile_dav() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HostileDav)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_carddav_server_that_never_stops_or_only_drips_is_cut_off_and_the_cached_names_stay(
    hostile_dav: str, db: Database
) -> None:
    repo = PhonebookRepository(db)
    endless = CardDavConfig(url=f"{hostile_dav}/endless", timeout=5)
    book = Phonebook(PhonebookConfig(carddav=endless), repo, ManualClock())
    await book.upload_csv(b"Name;Nummer\nErika;+49301234\n", "kunden.csv")
    tracemalloc.start()
    await book.refresh()
    assert source(book, "carddav")["error"] == f"the address book at {hostile_dav}/endless is larger than 50 MB"
    # the answer was read in pieces and dropped at the limit, not gathered whole first
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 150_000_000, peak  # bounded by the 50 MB limit (and a bytearray's growth), not the sender
    drip = CardDavConfig(url=f"{hostile_dav}/drip", timeout=0.5)  # each byte in time, the whole never
    book = Phonebook(PhonebookConfig(carddav=drip), repo, ManualClock())
    await book.load()
    await book.refresh()
    assert source(book, "carddav")["error"] == (
        f"the CardDAV server at {hostile_dav}/drip did not send its whole answer within 2 s"
    )
    assert book.lookup("030 1234") == "Erika"  # what the box knew stays
