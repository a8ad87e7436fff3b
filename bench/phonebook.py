"""Caller names (issue 16, 5): how long a look-up takes with 100,000 numbers cached (it runs
when a call comes in, on the event loop), how long reading each source takes, and how late a
5 ms loop timer runs meanwhile (the media clock's view: the reading runs in worker threads).

    .venv/bin/python -m bench.phonebook
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.harness.carddav import running_radicale, vcard
from tests.harness.tr064 import running_fritzbox

from zentrale.config import CardDavConfig, FritzboxPhonebookConfig, PhonebookConfig
from zentrale.core.clock import ManualClock
from zentrale.phonebook.service import Phonebook
from zentrale.store.db import Database
from zentrale.store.phonebook import PhonebookRepository

ENTRIES = 100_000
LOOKUPS = 100_000
FRITZ_CONTACTS = 2_000  # a FRITZ!Box phonebook holds a few thousand at most
DAV_CARDS = 500


class FullCollections:
    """The cyclic garbage collector's full (generation 2) runs meanwhile: each walks every object
    it tracks, holding the GIL -- the event loop waits for it, whatever thread started it."""

    def __init__(self) -> None:
        self.runs: list[float] = []
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.runs.append((time.perf_counter() - self._began) * 1000)

    def __str__(self) -> str:
        longest = f", the longest {max(self.runs):.1f} ms" if self.runs else ""
        return f"{len(self.runs)} full GC runs{longest}"


async def late_timer_during(
    work: Callable[[], Awaitable[Any]], full: FullCollections | None = None
) -> tuple[float, float]:
    """(seconds ``work`` took, the most a 5 ms timer ran late meanwhile, in ms); ``full`` counts
    the full collections meanwhile."""
    worst = 0.0
    done = asyncio.Event()
    if full is not None:
        gc.callbacks.append(full)

    async def tick() -> None:
        nonlocal worst
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            worst = max(worst, time.perf_counter() - start - 0.005)

    ticker = asyncio.ensure_future(tick())
    start = time.perf_counter()
    await work()
    took = time.perf_counter() - start
    done.set()
    await ticker
    if full is not None:
        gc.callbacks.remove(full)
    return took, worst * 1000


def lookup_figures(book: Phonebook) -> dict[str, float]:
    hits = [f"030 {1_000_000 + i * 7 % ENTRIES}" for i in range(LOOKUPS // 2)]
    misses = [f"+49 40 {2_000_000 + i}" for i in range(LOOKUPS // 2)]
    times = []
    for number in [n for pair in zip(hits, misses, strict=True) for n in pair]:
        start = time.perf_counter_ns()
        book.lookup(number)
        times.append(time.perf_counter_ns() - start)
    times.sort()
    return {
        "median_us": statistics.median(times) / 1000,
        "p99_us": times[int(len(times) * 0.99)] / 1000,
        "max_us": times[-1] / 1000,
    }


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder) / "z.db")
        await db.open()
        repo = PhonebookRepository(db)
        _, idle = await late_timer_during(lambda: asyncio.to_thread(time.sleep, 2))
        print(f"baseline: 5 ms timer late ≤ {idle:.1f} ms while a thread only sleeps (the machine's own noise)")
        csv = "".join(f"Kunde {i};030 {1_000_000 + i}\n" for i in range(ENTRIES)).encode()
        book = Phonebook(PhonebookConfig(max_csv_kb=50_000), repo, ManualClock())
        full = FullCollections()
        took, late = await late_timer_during(lambda: book.upload_csv(csv, "bench.csv"), full)
        print(f"CSV upload, {ENTRIES:,} entries ({len(csv) / 1e6:.1f} MB): {took:.2f} s; "
              f"5 ms timer late ≤ {late:.1f} ms; {full}")  # fmt: skip
        figures = lookup_figures(book)
        print(
            f"look-up with {book.status()['numbers']:,} numbers ({LOOKUPS:,} look-ups, half unknown): "
            f"median {figures['median_us']:.1f} µs, p99 {figures['p99_us']:.1f} µs, max {figures['max_us']:.0f} µs"
        )
        again = Phonebook(PhonebookConfig(), repo, ManualClock())
        took, late = await late_timer_during(again.load)
        print(f"loading the cache at the start ({ENTRIES:,}): {took:.2f} s; 5 ms timer late ≤ {late:.1f} ms")

        contacts = [
            (f"Kontakt {i}", [f"0351 {100_000 + i}", f"+49 171 {2_000_000 + i}"]) for i in range(FRITZ_CONTACTS)
        ]
        with running_fritzbox(Telefonbuch=contacts) as box:
            config = FritzboxPhonebookConfig(
                address="127.0.0.1", port=box.port, user=box.user, password=box.password, timeout=30
            )
            fritz = Phonebook(PhonebookConfig(fritzbox=config), repo, ManualClock())
            took, late = await late_timer_during(fritz.refresh, full := FullCollections())
            entries = fritz.status()["sources"][2]["entries"]
            print(f"FRITZ!Box refresh (TR-064, {FRITZ_CONTACTS:,} contacts, {entries:,} numbers): {took:.2f} s; "
                  f"5 ms timer late ≤ {late:.1f} ms; {full}")  # fmt: skip
        with running_radicale(Path(folder) / "radicale") as dav:
            for i in range(DAV_CARDS):
                dav.put(vcard(f"Karte {i}", f"0221 {300_000 + i}"))
            config_dav = CardDavConfig(url=dav.url, user=dav.user, password=dav.password, timeout=60)
            carddav = Phonebook(PhonebookConfig(carddav=config_dav), repo, ManualClock())
            took, late = await late_timer_during(carddav.refresh)
            entries = carddav.status()["sources"][1]["entries"]
            print(f"CardDAV refresh (Radicale, {DAV_CARDS} vCards, {entries} numbers): {took:.2f} s; "
                  f"5 ms timer late ≤ {late:.1f} ms")  # fmt: skip
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
