"""Big mode documents and the 20 ms media clock.

Usage: .venv/bin/python -m bench.http_documents

Part 1, in one process: a 20 ms ticker on an asyncio loop (as the media clock)
while a 0.3 MB YAML document is parsed (a) on the loop, (b) in a worker thread,
(c) in the web layer's worker process (``web/documents.py``). Lateness of the
ticks p50 / p99 / max -- why documents are parsed in a process, not a thread.

Part 2, the real daemon (document limit raised to 4 MB): PUT /api/modes with
documents of 0.1 to 12 MB; the answer, its time, and the media clock's worst
lateness while it ran (``/status``, looked at every 0.25 s).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.common import machine, start_daemon
from zentrale.web.documents import DocumentWorker, parse_checked


def document(megabytes: float) -> str:
    count = int(megabytes * 1e6 / 104)
    nodes: dict[str, Any] = {
        f"n{i}": {"type": "announcement", "prompt": "greeting", "next": f"n{i + 1}", "label": f"Ansage Nummer {i}"}
        for i in range(count)
    }
    nodes[f"n{count}"] = {"type": "hangup", "prompt": "goodbye"}
    return yaml.safe_dump({"schema_version": 1, "name": "Big", "start": "n0", "nodes": nodes}, allow_unicode=True)


def parse(text: str) -> None:
    try:
        parse_checked(text, "bench", 32, {"greeting", "goodbye"}, [], False)
    except Exception:
        pass  # too many values: refused after the whole parse, which is the work measured


async def ticking_while(work: Callable[[], Awaitable[None]]) -> list[float]:
    loop = asyncio.get_running_loop()
    lates: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        deadline = loop.time() + 0.02
        while not done.is_set():
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            lates.append((loop.time() - deadline) * 1000)
            deadline += 0.02

    task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.2)
    await work()
    await asyncio.sleep(0.1)
    done.set()
    await task
    return lates


def summary(lates: list[float]) -> str:
    x = np.array(lates)
    return f"{np.percentile(x, 50):.1f} / {np.percentile(x, 99):.1f} / {x.max():.1f}"


async def part1(text: str) -> None:
    worker = DocumentWorker()

    async def on_loop() -> None:
        parse(text)

    async def in_thread() -> None:
        await asyncio.to_thread(parse, text)

    async def in_process() -> None:
        try:
            await worker.run(parse_checked, text, "bench", 32, {"greeting", "goodbye"}, [], False)
        except Exception:
            pass

    try:
        await worker.run(parse_checked, "{}", "warm-up", 32, [], [], False)
    except Exception:
        pass  # the worker is started: its start-up is not part of the figure
    print(f"\n## Part 1: a {len(text) / 1e6:.1f} MB YAML document parsed while a 20 ms ticker runs\n")
    print("| where | ticks | lateness p50 / p99 / max ms |\n|---|---|---|")
    for name, work in (("on the loop", on_loop), ("worker thread", in_thread), ("worker process", in_process)):
        for _ in range(2):
            lates = await ticking_while(work)
            print(f"| {name} | {len(lates)} | {summary(lates)} |")
    await worker.close()


def put_watched(daemon: Any, body: bytes) -> tuple[int, float, float]:
    """PUT the document; the answer, its seconds, the media clock's worst lateness meanwhile."""
    daemon.status()  # resets the worst lateness
    worst: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.25):
            worst.append(daemon.status()["media_clock"]["recent_late_ms"])

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    r = daemon.http.put("/api/modes/big", content=body, timeout=300)
    took = time.monotonic() - started
    stop.set()
    watcher.join()
    worst.append(daemon.status()["media_clock"]["recent_late_ms"])
    return r.status_code, took, max(worst)


def part2() -> None:
    print("\n## Part 2: PUT /api/modes on the real daemon (document limit 4 MB)\n")
    print("| document | answer | seconds | media clock worst lateness ms |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        daemon = start_daemon(Path(tmp), config={"http": {"max_document_bytes": 4_000_000}})
        try:
            for megabytes in (0.1, 1.0, 2.9, 12.0):
                body = document(megabytes).encode()
                status, took, worst = put_watched(daemon, body)
                print(f"| {len(body) / 1e6:.1f} MB | {status} | {took:.2f} | {worst:.1f} |")
        finally:
            daemon.stop()


def main() -> None:
    print(f"# bench.http_documents -- {machine()}")
    megabytes = float(sys.argv[1]) if len(sys.argv) > 1 else 0.3
    asyncio.run(part1(document(megabytes)))
    part2()


if __name__ == "__main__":
    main()
