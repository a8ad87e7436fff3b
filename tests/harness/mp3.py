"""Decode an MP3 with ffmpeg (Debian) and read its tags with ffprobe: an independent check of our encoder."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


def decode_mp3(path: Path, rate: int | None = None) -> tuple[npt.NDArray[np.float64], int]:
    """Samples (float, -1..1) at the file's own rate (or ``rate``), and that rate."""
    rate = rate or int(probe(path)["streams"][0]["sample_rate"])
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(rate), "-"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return np.frombuffer(out.stdout, "<i2").astype(np.float64) / 32768.0, rate


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        text=True,
        timeout=30,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result
