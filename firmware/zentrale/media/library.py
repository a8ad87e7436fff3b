"""Prompt and music library: decoded once, shared by every call.

Files are looked up by name (without extension) in a list of folders, the
first folder winning, so a user's recording in the data folder overrides a
shipped prompt of the same name. WAV is read directly; MP3/OGG/FLAC through
ffmpeg when it is installed, else through libsndfile (>= 1.1 reads MP3), which
the ``soundfile`` wheel brings along: the appliance's image has no ffmpeg (about
100 MB with its libraries; soundfile's aarch64 wheel is 1.2 MB, 3.4 MB installed;
measured in image-build/PROOF.md).

Decoding is never work for the event loop (a long file or an ffmpeg run would
stall the media clock): code on the loop preloads in a thread (``preload``, as
activating a mode does) or awaits ``load``. ``clip`` on the loop thread with a
clip not decoded yet still works, but says so in the log.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import subprocess
import threading
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

try:
    import soundfile
except (ImportError, OSError):  # OSError: the wheel's libsndfile could not be loaded
    soundfile = None

from zentrale.errors import NotFound, ZentraleError
from zentrale.media.dsp import to_pcm
from zentrale.media.frames import FRAME_MS, Frame, bytes_per_frame
from zentrale.media.rate import resample

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".mp3", ".ogg", ".flac")
# what a prompt's file name can be (prompts.NAME_RE, the mode schema's PromptName): anything else
# is not looked for on disk (a 300-character name gave "File name too long")
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


class AudioDecodeError(ZentraleError):
    """A file is not audio we can read."""


@dataclass(frozen=True)
class Clip:
    name: str
    rate: int
    frames: tuple[Frame, ...]

    @property
    def duration(self) -> float:
        return len(self.frames) * FRAME_MS / 1000


def decoder() -> str:
    """What reads MP3/OGG/FLAC here: ``ffmpeg`` (on the PATH), ``libsndfile`` or ``none``."""
    if shutil.which("ffmpeg") is not None:
        return "ffmpeg"
    return "libsndfile" if soundfile is not None else "none"


def decode_file(path: Path) -> tuple[np.ndarray, int]:
    """Mono float samples and their rate; raises AudioDecodeError."""
    if path.suffix.lower() == ".wav":
        try:
            return _decode_wav(path)
        except (wave.Error, EOFError, ValueError) as err:
            if decoder() == "none":
                raise AudioDecodeError(f"{path.name}: not a PCM WAV file ({err})") from err
    if decoder() == "libsndfile":
        return _decode_sndfile(path)
    return _decode_ffmpeg(path)


def probe_file(path: Path) -> tuple[float, str]:
    """Length in seconds and the format's name, without ffprobe (WAV by the wave module,
    anything else by libsndfile); raises AudioDecodeError for what is not audio."""
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() / w.getframerate(), "WAV"
    except (wave.Error, EOFError, ValueError, ZeroDivisionError) as err:
        if soundfile is None:
            raise AudioDecodeError(f"{path.name}: not a PCM WAV file ({err})") from err
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, ValueError, TypeError) as err:  # soundfile.LibsndfileError is a RuntimeError
        raise AudioDecodeError(f"{path.name}: not audio ({_sndfile_reason(err)})") from err
    if info.samplerate <= 0:
        raise AudioDecodeError(f"{path.name}: not audio (no sample rate)")
    return info.frames / info.samplerate, f"{info.format_info} {info.subtype_info}"


def _sndfile_reason(err: Exception) -> str:
    return str(err).split(": ", 1)[-1].strip() or type(err).__name__


def _decode_sndfile(path: Path) -> tuple[np.ndarray, int]:
    if soundfile is None:
        raise AudioDecodeError(f"{path.name}: neither ffmpeg nor libsndfile is installed to read {path.suffix}")
    parts: list[npt.NDArray[np.float32]] = []
    try:
        with soundfile.SoundFile(str(path)) as f:
            rate = int(f.samplerate)
            # in blocks, mixed down as they come: a 15-minute stereo upload is never held twice in stereo
            for block in f.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
                parts.append(block.mean(axis=1, dtype=np.float32))
    except (RuntimeError, ValueError, TypeError) as err:
        raise AudioDecodeError(f"{path.name}: not audio ({_sndfile_reason(err)})") from err
    samples = np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)
    if not len(samples):
        raise AudioDecodeError(f"{path.name}: not audio (no samples)")
    return samples, rate


def _decode_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
        raw = w.readframes(w.getnframes())
    if width == 2:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    elif width == 1:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 4:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0
    else:
        raise ValueError(f"{width * 8}-bit samples are not supported")
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return x, rate


def _decode_ffmpeg(path: Path, rate: int = 16000) -> tuple[np.ndarray, int]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioDecodeError(f"{path.name}: ffmpeg or libsndfile is needed to read {path.suffix} files")
    proc = subprocess.run(
        [ffmpeg, "-v", "error", "-nostdin", "-i", str(path), "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"],
        capture_output=True,
        check=False,
        timeout=120,
    )
    if proc.returncode != 0 or not proc.stdout:
        reason = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no audio stream"]
        raise AudioDecodeError(f"{path.name}: not audio ({reason[0]})")
    return np.frombuffer(proc.stdout, dtype="<i2").astype(np.float64) / 32768.0, rate


def make_clip(name: str, samples: np.ndarray, src_rate: int, rate: int) -> Clip:
    pcm = to_pcm(resample(samples, src_rate, rate))
    size = bytes_per_frame(rate)
    if len(pcm) % size:
        pcm += bytes(size - len(pcm) % size)
    frames = tuple(Frame(pcm[i : i + size], rate) for i in range(0, len(pcm), size))
    return Clip(name, rate, frames)


def clip_from_pcm(name: str, pcm: bytes, rate: int) -> Clip:
    size = bytes_per_frame(rate)
    if len(pcm) % size:
        pcm += bytes(size - len(pcm) % size)
    return Clip(name, rate, tuple(Frame(pcm[i : i + size], rate) for i in range(0, len(pcm), size)))


class AudioLibrary:
    """Named prompts and music, decoded on first use (or preload) and cached."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders = folders
        self._clips: dict[tuple[str, int], Clip] = {}
        self._lock = threading.Lock()  # preload runs in a worker thread

    def path(self, name: str) -> Path:
        if not NAME_RE.match(name):
            raise NotFound(f"no prompt can be called '{name[:80]}'")
        for folder in self.folders:
            for ext in AUDIO_EXTENSIONS:
                candidate = folder / f"{name}{ext}"
                if candidate.is_file():
                    return candidate
        raise NotFound(f"prompt '{name}' not found in {', '.join(str(f) for f in self.folders)}")

    def names(self) -> set[str]:
        found: set[str] = set()
        for folder in self.folders:
            if folder.is_dir():
                found.update(p.stem for p in folder.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
        return found

    def clip(self, name: str, rate: int) -> Clip:
        key = (name, rate)
        clip = self._clips.get(key)
        if clip is None:
            if _on_event_loop():
                log.warning("decoding prompt '%s' on the event loop (it was not preloaded)", name)
            samples, src_rate = decode_file(self.path(name))
            clip = make_clip(name, samples, src_rate, rate)
            with self._lock:
                self._clips[key] = clip
            log.debug("decoded %s at %d Hz: %.1f s", name, rate, clip.duration)
        return clip

    def cached(self, name: str, rate: int) -> Clip | None:
        return self._clips.get((name, rate))

    async def load(self, name: str, rate: int) -> Clip:
        """``clip`` for code on the event loop: a clip not decoded yet is decoded in a thread."""
        clip = self._clips.get((name, rate))
        return clip if clip is not None else await asyncio.to_thread(self.clip, name, rate)

    def preload(self, names: set[str], rates: tuple[int, ...] = (8000, 16000)) -> None:
        for name in sorted(names):
            for rate in rates:
                self.clip(name, rate)

    def forget(self, name: str) -> None:
        """Drop cached decodings, e.g. after a prompt was replaced."""
        with self._lock:
            for key in [k for k in self._clips if k[0] == name]:
                del self._clips[key]


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
