"""The prompt library as the web layer uses it: impossible names are "not found" (not an
OSError from the file system), and decoding for code on the event loop runs in a thread."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest

from tests.harness.audio import make_tone_wav
from zentrale.errors import NotFound
from zentrale.media import library as library_module
from zentrale.media.library import AudioLibrary


@pytest.fixture
def library(tmp_path: Path) -> AudioLibrary:
    make_tone_wav(tmp_path / "tone.wav", 500, 1.0, rate=16000)
    return AudioLibrary([tmp_path])


@pytest.mark.parametrize("name", ["x" * 300, "../tone", "a/b", "", ".hidden", "a\0b"])
def test_a_name_no_prompt_can_have_is_not_found_without_touching_the_disk(library: AudioLibrary, name: str) -> None:
    with pytest.raises(NotFound):
        library.path(name)


def test_load_decodes_in_a_thread_and_caches(library: AudioLibrary, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    decode = library_module.decode_file

    def spy(path: Path) -> object:
        threads.append(threading.current_thread().name)
        return decode(path)

    monkeypatch.setattr(library_module, "decode_file", spy)

    async def main() -> None:
        clip = await library.load("tone", 8000)
        assert abs(clip.duration - 1.0) < 0.03
        assert await library.load("tone", 8000) is clip

    asyncio.run(main())
    assert len(threads) == 1 and threads[0] != threading.main_thread().name


def test_decoding_on_the_event_loop_is_said_in_the_log(library: AudioLibrary, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        library.clip("tone", 8000)

    with caplog.at_level(logging.WARNING, logger="zentrale.media.library"):
        asyncio.run(main())
        library.clip("tone", 16000)  # not on a loop: nothing to say
    assert [r.getMessage() for r in caplog.records] == [
        "decoding prompt 'tone' on the event loop (it was not preloaded)"
    ]
