"""The prompt and music library as admins manage it: upload (WAV, MP3, OGG,
FLAC → 16 kHz mono WAV, loudness normalised), preview, which modes use a
prompt, delete, and a draft prompt from text with espeak-ng.

Uploaded announcements go to ``<data>/prompts/``, uploaded hold music to
``<data>/prompts/music/`` (the kind shown in the library; a mode may use
either in any place).

Uploads are checked before anything is kept (ffprobe, or without ffmpeg the
wave module and libsndfile): a file that is not audio, too long or too big is
refused with a message saying so. Without ffmpeg (the appliance's image) the
conversion decodes with libsndfile and normalises with one gain to the same
loudness target (media/loudness.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Any, Literal

from zentrale.config import DEMO_DIR
from zentrale.errors import Conflict, Invalid, NotFound, Refused, ZentraleError
from zentrale.hotline import Hotline
from zentrale.media import loudness
from zentrale.media.dsp import to_pcm
from zentrale.media.library import AUDIO_EXTENSIONS, AudioDecodeError, AudioLibrary, decode_file, probe_file
from zentrale.media.rate import resample

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_SECONDS = 15 * 60
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")
# EBU R128-style loudness for speech on the phone; true peak below -2 dBFS
LOUDNORM = "loudnorm=I=-19:TP=-2:LRA=11"
TARGET_LUFS, CEILING_DBFS = -19.0, -2.0  # the same target where ffmpeg is not installed


class UploadRefused(Invalid):
    """An upload that is not usable audio (HTTP 422 with the reason)."""


def _duration(text: str) -> str:
    seconds = int(float(text))
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


Kind = Literal["prompt", "music"]


class PromptLibrary:
    def __init__(self, library: AudioLibrary, folder: Path, music_folder: Path, hotline: Hotline) -> None:
        self.library = library
        self.folder = folder
        self.music_folder = music_folder
        self.hotline = hotline

    def _kind(self, path: Path, name: str) -> Kind:
        music = path.parent in (DEMO_DIR / "music", self.music_folder) or name.startswith("music")
        return "music" if music else "prompt"

    def _own_files(self, name: str) -> list[Path]:
        """The uploaded files of this name (announcement or music)."""
        return [
            folder / f"{name}{ext}"
            for folder in (self.folder, self.music_folder)
            for ext in AUDIO_EXTENSIONS
            if (folder / f"{name}{ext}").is_file()
        ]

    def used_by(self) -> dict[str, list[str]]:
        uses: dict[str, list[str]] = {}
        for name, mode in self.hotline.modes.loaded():
            for prompt in mode.prompts():
                uses.setdefault(prompt, []).append(name)
        return uses

    def entries(self) -> list[dict[str, Any]]:
        """The library with lengths and uses (decodes prompts, parses modes: call it in a thread)."""
        uses = self.used_by()
        out = []
        for name in sorted(self.library.names()):
            path = self.library.path(name)
            try:
                seconds = round(self.library.clip(name, 8000).duration, 2)
            except ZentraleError:
                seconds = None
            out.append(
                {
                    "name": name,
                    "seconds": seconds,
                    "kind": self._kind(path, name),
                    "source": "uploaded" if path.parent in (self.folder, self.music_folder) else "shipped",
                    "used_by": uses.get(name, []),
                }
            )
        return out

    async def list(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.entries)

    async def upload(self, name: str, filename: str, data: bytes, kind: Kind = "prompt") -> dict[str, Any]:
        if not NAME_RE.match(name):
            raise UploadRefused(f"prompt name '{name[:80]}' may use letters, digits, '.', '_' and '-' only")
        if len(data) > MAX_UPLOAD_BYTES:
            raise UploadRefused(
                f"file too big: {len(data) // (1024 * 1024)} MB, at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"
            )
        if not data:
            raise UploadRefused("the file is empty")
        # only the extension helps ffprobe; anything else (a NUL, a path) stays out of the file name
        suffix = Path(filename).suffix.lower()
        suffix = suffix if suffix in AUDIO_EXTENSIONS else ".bin"
        with tempfile.TemporaryDirectory(prefix="zentrale-upload-") as tmp:
            source = Path(tmp) / f"upload{suffix}"
            await asyncio.to_thread(source.write_bytes, data)
            seconds = await asyncio.to_thread(self._probe, source, filename)
            target = Path(tmp) / "converted.wav"
            await asyncio.to_thread(self._convert, source, target)
            folder = self.music_folder if kind == "music" else self.folder
            await asyncio.to_thread(self._place, target, folder, name)
        await self._refresh(name)
        log.info("prompt '%s' uploaded from %s (%.1f s)", name, filename, seconds)
        return next(p for p in await self.list() if p["name"] == name)

    def _place(self, converted: Path, folder: Path, name: str) -> None:
        """The converted file becomes the prompt (a copy across file systems: a thread's work)."""
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{name}.wav"
        for other in self._own_files(name):
            if other != final:
                other.unlink()
        shutil.move(str(converted), str(final))

    def _probe(self, path: Path, filename: str) -> float:
        if shutil.which("ffprobe") is None:
            try:
                duration, _ = probe_file(path)
            except AudioDecodeError as err:
                raise UploadRefused(f"'{filename}' is not an audio file ({str(err).split(': ', 1)[-1]})") from err
            return self._check_length(duration, filename)
        proc = subprocess.run(
            ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        try:
            info = json.loads(proc.stdout or "{}")
        except ValueError:
            info = {}
        if not isinstance(info, dict):
            info = {}
        audio = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
        video = [
            s
            for s in info.get("streams", [])
            if s.get("codec_type") == "video" and s.get("disposition", {}).get("attached_pic") != 1
        ]
        if proc.returncode != 0 or not audio or video:
            what = (
                info.get("format", {}).get("format_long_name") or (proc.stderr.strip().splitlines() or ["unknown"])[-1]
            )
            raise UploadRefused(f"'{filename}' is not an audio file ({what})")
        try:
            duration = float(info.get("format", {}).get("duration") or audio[0].get("duration") or 0)
        except (TypeError, ValueError):  # "N/A": a stream without a known length
            duration = 0.0
        return self._check_length(duration, filename)

    @staticmethod
    def _check_length(duration: float, filename: str) -> float:
        if duration <= 0.05:
            raise UploadRefused(f"'{filename}' contains no audio")
        if duration > MAX_SECONDS:
            raise UploadRefused(
                f"'{filename}' is too long: {_duration(str(duration))}, at most {_duration(str(MAX_SECONDS))}"
            )
        return duration

    def _convert(self, source: Path, target: Path) -> None:
        if shutil.which("ffmpeg") is None:
            self._convert_without_ffmpeg(source, target)
            return
        proc = subprocess.run(
            ["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(source), "-vn", "-af", LOUDNORM,
             "-ac", "1", "-ar", "16000", "-sample_fmt", "s16", str(target)],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if proc.returncode != 0 or not target.exists():
            raise UploadRefused(f"the audio could not be converted: {proc.stderr.strip()[-200:]}")

    @staticmethod
    def _convert_without_ffmpeg(source: Path, target: Path) -> None:
        """libsndfile decodes, soxr resamples to 16 kHz, one gain to the loudness target."""
        try:
            samples, rate = decode_file(source)
        except AudioDecodeError as err:
            raise UploadRefused(f"the audio could not be converted: {str(err).split(': ', 1)[-1]}") from err
        samples = loudness.normalised(resample(samples, rate, 16000), 16000, TARGET_LUFS, CEILING_DBFS)
        with wave.open(str(target), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(16000)
            out.writeframes(to_pcm(samples))

    async def _refresh(self, name: str) -> None:
        self.library.forget(name)
        await asyncio.to_thread(self.library.preload, {name})

    async def delete(self, name: str) -> None:
        users = (await asyncio.to_thread(self.used_by)).get(name)
        if users:
            raise Conflict(f"prompt '{name}' is used by mode(s) {', '.join(users)}")
        own = self._own_files(name)
        if not own:
            raise NotFound(f"no uploaded prompt '{name}' (shipped prompts cannot be deleted)")
        for path in own:
            path.unlink()
        self.library.forget(name)

    async def from_text(self, name: str, text: str, voice: str = "de") -> dict[str, Any]:
        """A draft prompt spoken by espeak-ng (if installed)."""
        if shutil.which("espeak-ng") is None:
            raise Refused("espeak-ng is not installed (Debian package espeak-ng)")
        if not text.strip() or len(text) > 2000:
            raise UploadRefused("the text must have 1 to 2000 characters")
        if not re.fullmatch(r"[a-z]{2,3}(-[a-z]+)?(\+[a-z0-9]+)?", voice):
            raise UploadRefused(f"unknown voice '{voice}'")
        with tempfile.TemporaryDirectory(prefix="zentrale-tts-") as tmp:
            wav = Path(tmp) / "tts.wav"
            proc = await asyncio.to_thread(
                subprocess.run,
                ["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text],
                capture_output=True,
                timeout=60,
                check=False,
            )
            if proc.returncode != 0:
                raise UploadRefused(f"espeak-ng failed: {proc.stderr.decode(errors='replace')[-200:]}")
            return await self.upload(name, "tts.wav", wav.read_bytes())

    def audio_path(self, name: str) -> Path:
        return self.library.path(name)
