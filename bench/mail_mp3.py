"""MP3 encoding for e-mail: time and size per minute of audio, and how late a 5 ms
loop timer runs while a worker thread encodes (the media clock's view).

    .venv/bin/python -m bench.mail_mp3
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from zentrale.mail.mp3 import encode_pcm


def speechlike(rate: int, seconds: float) -> bytes:
    """Noise shaped into 4 Hz syllables: harder for the encoder than a tone."""
    rng = np.random.default_rng(1)
    t = np.arange(int(rate * seconds)) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    return (rng.standard_normal(t.size) * 3000 * envelope).astype("<i2").tobytes()


async def lateness_while(job: object) -> float:
    loop = asyncio.get_running_loop()
    worst = 0.0
    task = loop.run_in_executor(None, job)  # type: ignore[arg-type]
    while not task.done():
        start = time.perf_counter()
        await asyncio.sleep(0.005)
        worst = max(worst, time.perf_counter() - start - 0.005)
    await task
    return worst


def main() -> None:
    idle = asyncio.run(lateness_while(lambda: time.sleep(3)))
    print(f"baseline: 5 ms timer at most {idle * 1000:.1f} ms late while a thread sleeps")
    for rate in (8000, 16000):
        pcm = speechlike(rate, 600)
        start = time.perf_counter()
        mp3 = encode_pcm(pcm, rate, 32)
        per_minute = (time.perf_counter() - start) / 10
        late = asyncio.run(lateness_while(lambda pcm=pcm, rate=rate: encode_pcm(pcm, rate, 32)))
        print(
            f"{rate} Hz, 32 kbit/s: {per_minute * 1000:.0f} ms and {len(mp3.data) / 10 / 1000:.0f} KB per minute"
            f" of audio; 5 ms timer at most {late * 1000:.1f} ms late while encoding"
        )


if __name__ == "__main__":
    main()
