"""Starting and stopping the box's parts (zentrale/lifecycle.py): in one order and back, a failed
start releases what was started, one part that hangs or fails does not keep the rest from stopping."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.harness.waits import until
from zentrale.lifecycle import Background, Lifecycle, Part, bounded


def recorder() -> tuple[list[str], type]:
    done: list[str] = []

    class Rec:
        def __init__(self, name: str) -> None:
            self.name = name

        async def start(self) -> None:
            await asyncio.sleep(0)
            done.append(f"start {self.name}")

        def stop(self) -> None:  # plain functions are parts' steps too
            done.append(f"stop {self.name}")

    return done, Rec


async def test_parts_stop_in_the_reverse_order_of_their_start_and_each_once() -> None:
    done, Rec = recorder()
    db, sip, web = Rec("db"), Rec("sip"), Rec("web")
    life = Lifecycle([
        Part("the database", db.start, db.stop),
        Part("the calls", stop=lambda: done.append("stop calls")),  # nothing to start, stopped before the line
        Part("the SIP line", sip.start, sip.stop),
        Part("the web server", web.start, web.stop),
    ])  # fmt: skip
    await life.start()
    assert done == ["start db", "start sip", "start web"]
    await life.stop()
    await life.stop()  # a second stop (a signal during the stop) stops nothing twice
    assert done[3:] == ["stop web", "stop sip", "stop calls", "stop db"]


async def test_a_start_that_fails_stops_the_parts_already_started_and_raises(caplog: pytest.LogCaptureFixture) -> None:
    done, Rec = recorder()
    db, web = Rec("db"), Rec("web")

    async def port_taken() -> None:
        raise OSError(98, "Address already in use")

    life = Lifecycle([
        Part("the database", db.start, db.stop),
        Part("the SIP line", port_taken, lambda: done.append("stop sip")),
        Part("the web server", web.start, web.stop),
    ])  # fmt: skip
    with caplog.at_level(logging.ERROR, logger="zentrale.lifecycle"), pytest.raises(OSError, match="already in use"):
        await life.start()
    assert done == ["start db", "stop db"]  # the line never started is not stopped, the web never started
    assert "starting: the SIP line failed" in caplog.text


async def test_a_part_that_never_stops_or_fails_is_named_and_the_others_still_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done: list[str] = []

    async def hangs() -> None:
        await asyncio.get_running_loop().create_future()

    def breaks() -> None:
        raise RuntimeError("socket gone")

    life = Lifecycle([
        Part("the database", stop=lambda: done.append("stop db")),
        Part("the stuck part", stop=hangs),
        Part("the broken part", stop=breaks),
    ], stop_seconds=0.05)  # fmt: skip
    await life.start()
    with caplog.at_level(logging.ERROR, logger="zentrale.lifecycle"):
        await life.stop()
    assert done == ["stop db"]
    assert "stopping: the stuck part did not stop within 0.05 s" in caplog.text
    assert "stopping: the broken part failed" in caplog.text


async def test_a_part_that_stops_in_time_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async def stops() -> None:
        await asyncio.sleep(0)

    with caplog.at_level(logging.ERROR, logger="zentrale.lifecycle"):
        await bounded("the quick part", stops(), seconds=1)
    assert caplog.text == ""


async def test_background_jobs_start_as_one_part_and_are_cancelled_when_it_stops() -> None:
    ran: list[str] = []

    async def forever(name: str) -> None:
        ran.append(name)
        try:
            await asyncio.Event().wait()
        finally:
            ran.append(f"{name} cancelled")

    background = Background()
    life = Lifecycle([background.part("jobs", lambda: forever("status"), lambda: forever("warm-up"))])
    await life.start()
    await until(lambda: len(ran) == 2, 5, "the jobs' first step")
    assert ran == ["status", "warm-up"] and len(background.tasks) == 2
    await life.stop()
    assert ran[2:] == ["status cancelled", "warm-up cancelled"] and background.tasks == []
