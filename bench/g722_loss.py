"""G.722 under packet loss, offline: what the box's concealment makes of a lossy wideband stream,
and whether the ADPCM decoder's state after a gap is what limits it.

The caller's speech (espeak-ng, as ``bench.audio_quality``) is encoded once with G.722 in 20 ms
frames; frames are lost at random (each seed its own pattern, never the first 100 ms), and the
stream is decoded and concealed four ways, each scored with PESQ (P.862.2, wideband) against
the clean speech:

- ``box``: as ``media/playout.py``: the decoder skips the lost frame, the concealer
  (``media/plc.py``, waveform repetition) fills it, the next frame is blended in;
- ``resync``: as ``box``, and the concealed waveform is encoded (by an encoder that followed
  the decoder's output) and fed to the decoder, so its ADPCM state moves on as if the
  concealed audio had been sent;
- ``repeat-state``: as ``box``, and the last payload is decoded again for the state only;
- ``repeat``: the last payload decoded again and played (what some phones do).

    .venv/bin/python -m bench.g722_loss [--seeds 8] [--loss 0.02,0.05]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from array import array
from pathlib import Path

import numpy as np
import numpy.typing as npt
from G722 import G722
from tests.harness.audio import read_wav

from bench.audio_scoring import make_speech, score
from zentrale.media.plc import Concealer

FRAME = 320  # 20 ms at 16 kHz
WAYS = ("box", "resync", "repeat-state", "repeat")


def _pcm(frame: npt.NDArray[np.int16]) -> array[int]:
    return array("h", frame.tobytes())


def decode(payloads: list[bytes], lost: set[int], way: str) -> npt.NDArray[np.float64]:
    decoder, shadow, concealer = G722(16000, 64000), G722(16000, 64000), Concealer(16000)
    out: list[npt.NDArray[np.int16]] = []
    last: bytes | None = None
    for i, payload in enumerate(payloads):
        if i not in lost:
            pcm = bytes(decoder.decode(payload).tobytes())
            if way == "resync":
                shadow.encode(array("h", pcm))
            out.append(np.frombuffer(concealer.good(pcm), "<i2"))
            last = payload
        elif way == "repeat" and last is not None:
            out.append(np.frombuffer(concealer.good(bytes(decoder.decode(last).tobytes())), "<i2"))
        else:
            concealed = concealer.conceal()
            if way == "resync":
                decoder.decode(bytes(shadow.encode(array("h", concealed))))
            elif way == "repeat-state" and last is not None:
                decoder.decode(last)
            out.append(np.frombuffer(concealed, "<i2"))
    return np.concatenate(out).astype(np.float64) / 32768


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--loss", type=lambda s: [float(v) for v in s.split(",")], default=[0.02, 0.05])
    args = p.parse_args(argv)
    x, rate = read_wav(make_speech(Path(tempfile.mkdtemp(prefix="zentrale-g722-")))["caller", 16000])
    samples = np.round(np.asarray(x) * 32767).astype(np.int16)
    frames = [samples[i : i + FRAME] for i in range(0, samples.size - FRAME + 1, FRAME)]
    encoder = G722(16000, 64000)
    payloads = [bytes(encoder.encode(_pcm(f))) for f in frames]
    reference = np.concatenate(frames).astype(np.float64) / 32768
    print(f"G.722 under random loss, offline, {len(frames) * 0.02:.1f} s of speech, PESQ wideband (median, mean)")
    print(f"no loss: {score(reference, decode(payloads, set(), 'box'), rate).mos:.3f}")
    print("| loss | " + " | ".join(WAYS) + " |\n|---|" + "---|" * len(WAYS))
    for loss in args.loss:
        mos: dict[str, list[float]] = {way: [] for way in WAYS}
        for seed in range(args.seeds):
            pick = random.Random(seed)
            lost = {i for i in range(len(payloads)) if i >= 5 and pick.random() < loss}
            for way in WAYS:
                mos[way].append(score(reference, decode(payloads, lost, way), rate).mos)
        cells = (f"{np.median(v):.2f} ({np.mean(v):.2f})" for v in mos.values())
        print(f"| {loss:.0%} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
