"""Stopping the box: one part that hangs is named in the log and does not keep the rest from stopping."""

from __future__ import annotations

import asyncio
import logging

import pytest

from zentrale.app import bounded


async def test_a_part_that_never_stops_is_named_in_the_log_and_left_behind(caplog: pytest.LogCaptureFixture) -> None:
    forever = asyncio.get_running_loop().create_future()
    with caplog.at_level(logging.ERROR, logger="zentrale.app"):
        await bounded("the stuck part", forever, seconds=0.05)
    assert forever.cancelled()
    assert "stopping: the stuck part did not stop within 0.05 s" in caplog.text


async def test_a_part_that_stops_in_time_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async def stops() -> None:
        await asyncio.sleep(0)

    with caplog.at_level(logging.ERROR, logger="zentrale.app"):
        await bounded("the quick part", stops(), seconds=1)
    assert caplog.text == ""
