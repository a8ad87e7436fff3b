#!/usr/bin/env python3
"""(Re)generate the demo audio shipped with Zentrale.

Writes, deterministically (same tools in, same bytes out):

  firmware/zentrale/demo/prompts/*.wav   German prompts, synthesised with espeak-ng, and the
                                         queue's position/wait prompts in English too (*_en)
  firmware/zentrale/demo/music/*.wav     three hold-music loops, synthesised here with numpy

All files: WAV, mono, 16-bit PCM, 16000 Hz.  Everything is generated, nothing is
sampled from anywhere, so the results are dedicated to the public domain (CC0);
see firmware/zentrale/demo/AUDIO.md.

Needs: Python >= 3.11, numpy, and the Debian packages ``espeak-ng`` and ``sox``.

    python3 tools/make_demo_audio.py            # generate everything, print a report
    python3 tools/make_demo_audio.py --check    # only analyse the existing files
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SR = 16000  # output sample rate of every file

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "firmware" / "zentrale" / "demo"
PROMPT_DIR = DEMO / "prompts"
MUSIC_DIR = DEMO / "music"
# All shipped audio together (it is in every image and update bundle): 6 MB until the
# queue's 56 position/wait sentences (German and English, 4.1 MB) came; the callback's
# digits and sentences (German and English, 1.4 MB) brought it to 12.1 MB; 0.9 MB to spare.
MAX_TOTAL_BYTES = 13_000_000

# ---------------------------------------------------------------------------
# Prompts
# ---------------------------------------------------------------------------

ESPEAK_VOICE = "de+f3"  # espeak-ng German voice, female variant 3
ESPEAK_VOICE_EN = "en+f3"  # British English, the same female variant
ESPEAK_SPEED = 155  # words per minute
ESPEAK_PITCH = 50  # espeak default

PROMPT_PEAK_DBFS = -3.0
PROMPT_LEAD_S = 0.04  # silence kept before the first sound (<= 100 ms)
PROMPT_TAIL_S = 0.07  # silence kept after the last sound (<= 100 ms)
PROMPT_FADE_IN_S = 0.005
PROMPT_FADE_OUT_S = 0.05
TRIM_THRESHOLD_DB = -40.0  # a 10 ms frame counts as sound above peak - 40 dB

# Synthesis-only spelling fixes: the shipped text (the first string) is what
# is documented and shown to users; the second string is what espeak-ng is
# fed where its German rules mispronounce a compound or a loan word.
SPEAK_FIXES = {
    "Lagerverwaltungssystem": "Lager-Verwaltungssystem",  # "lAgEr..." -> "la:g3..."
    "Signalton": "Signal-Ton",  # stress on -nal-
    "Rufnummer": "Ruf-Nummer",  # long u in "Ruf"
    "Rautetaste": "Raute-Taste",  # schwa, not "Raute-e-taste"
    "Servicezeiten": "Sörwiss-Zeiten",  # not "Servi-ke-zeiten"
}

PROMPTS: dict[str, str] = {
    "greeting": "Herzlich willkommen bei der IT-Hotline der Musterfirma.",
    "main_menu": (
        "Für Fragen zum Lagerverwaltungssystem L V S drücken Sie bitte die 1. "
        "Für SAP drücken Sie die 2. Für Fragen zu Ihrem PC drücken Sie die 3."
    ),
    "hold_notice": ("Bitte haben Sie einen Moment Geduld. Der nächste freie Mitarbeiter ist gleich für Sie da."),
    "offer_message": (
        "Leider sind zurzeit alle Mitarbeiter im Gespräch. Bitte hinterlassen Sie "
        "nach dem Signalton eine Nachricht mit Ihrem Namen und Ihrer Rufnummer. "
        "Drücken Sie die Rautetaste, wenn Sie fertig sind."
    ),
    "message_saved": ("Vielen Dank. Ihre Nachricht wurde gespeichert. Wir rufen Sie zurück."),
    "goodbye": "Auf Wiederhören.",
    "invalid_choice": "Diese Auswahl ist leider ungültig.",
    "no_input": "Wir haben keine Eingabe erhalten.",
    "outage_sap": (
        "Achtung: Das SAP-System ist zurzeit gestört. Wir arbeiten mit Hochdruck "
        "an der Behebung. Sie müssen uns diese Störung nicht melden."
    ),
    "outage_network": (
        "Achtung: Zurzeit gibt es eine Störung im Firmennetzwerk. Wir arbeiten mit Hochdruck an der Behebung."
    ),
    "connecting": "Sie werden jetzt verbunden.",
    "closed": (
        "Die Hotline ist zurzeit nicht besetzt. Unsere Servicezeiten sind montags bis freitags von 8 bis 17 Uhr."
    ),
    # Recording prompts by phone (the service number, phone_prompts.py)
    "rec_enter_pin": "Ansagen aufsprechen. Bitte geben Sie Ihre PIN ein und drücken Sie die Rautetaste.",
    "rec_wrong_pin": "Die PIN ist nicht richtig.",
    "rec_enter_number": (
        "Bitte geben Sie die Nummer der Ansage ein, von 1 bis 99, und drücken Sie die Rautetaste. "
        "Zum Beenden legen Sie einfach auf."
    ),
    "rec_after_beep": (
        "Bitte sprechen Sie die Ansage nach dem Signalton. Drücken Sie die Rautetaste, wenn Sie fertig sind."
    ),
    "rec_playback": "Sie hören Ihre Aufnahme.",
    "rec_keep_or_again": "Zum Speichern drücken Sie die 1. Für eine neue Aufnahme drücken Sie die 2.",
    "rec_saved": "Die Ansage ist gespeichert.",
    "rec_nothing_heard": "Wir haben nichts gehört.",
    # Feature codes from the desk phone (the service number, desk_phone.py)
    "desk_enter_pin": "Telefondienst. Bitte PIN eingeben, dann die Rautetaste.",
    "desk_menu": "Anmelden: 1. Abmelden: 2. Pause: 3. Pause beenden: 4.",
    "desk_logged_in": "Sie sind angemeldet.",
    "desk_logged_out": "Sie sind abgemeldet.",
    "desk_paused": "Sie sind in Pause.",
    "desk_resumed": "Sie sind wieder verfügbar.",
    "desk_refused": "Das geht leider nicht.",
    # No message can be recorded (the data disk is full or failing, core/flow.py)
    "messages_unavailable": "Nachrichten sind gerade nicht möglich. Bitte rufen Sie später wieder an.",
    "messages_unavailable_wait": (
        "Nachrichten sind gerade nicht möglich. Bitte bleiben Sie in der Leitung, oder rufen Sie später wieder an."
    ),
    # A caller on the block list (the demo mode's condition node, core/callers.py)
    "caller_blocked": "Anrufe von Ihrer Rufnummer nimmt diese Hotline leider nicht an. Auf Wiederhören.",
    # The demo's team C queue offers a callback on key 2 (the mode's callback node)
    "hold_callback": (
        "Möchten Sie lieber zurückgerufen werden, drücken Sie die 2. Sie behalten Ihren Platz in der Warteschlange."
    ),
}


# What a waiting caller is told (core/waits.py, the queue's "announce" hold step): whole
# sentences, not numbers glued together, so each sounds like one announcement. Positions
# 1-10, then "ten or more ahead"; waits under a minute, whole minutes to ten, five-minute
# steps to thirty, then "more than half an hour"; "please hold" where no figure is credible.
_DE_NUMBERS = ("eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn")
_EN_NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_MINUTES = (*range(1, 11), 15, 20, 25, 30)
_DE_MINUTES = {**dict(zip(range(1, 11), ("eine", *_DE_NUMBERS[1:]), strict=True)),
               15: "fünfzehn", 20: "zwanzig", 25: "fünfundzwanzig", 30: "dreißig"}  # fmt: skip
_EN_MINUTES = {**dict(zip(range(1, 11), _EN_NUMBERS, strict=True)),
               15: "fifteen", 20: "twenty", 25: "twenty-five", 30: "thirty"}  # fmt: skip


def queue_prompts(
    numbers: tuple[str, ...], minutes: dict[int, str], texts: dict[str, str], suffix: str
) -> dict[str, str]:
    out = {f"queue_position_{n}{suffix}": texts["position"].format(word) for n, word in enumerate(numbers, start=1)}
    out[f"queue_position_many{suffix}"] = texts["many"]
    out[f"queue_wait_under_1{suffix}"] = texts["under_1"]
    for m in _MINUTES:
        out[f"queue_wait_{m}{suffix}"] = (texts["one_minute"] if m == 1 else texts["minutes"]).format(minutes[m])
    out[f"queue_wait_over_30{suffix}"] = texts["over_30"]
    out[f"queue_patience{suffix}"] = texts["patience"]
    return out


PROMPTS.update(
    queue_prompts(
        _DE_NUMBERS,
        _DE_MINUTES,
        {
            "position": "Sie sind an Position {}.",
            "many": "Vor Ihnen warten noch zehn oder mehr Anrufer.",
            "under_1": "Die Wartezeit beträgt weniger als eine Minute.",
            "one_minute": "Die Wartezeit beträgt etwa {} Minute.",
            "minutes": "Die Wartezeit beträgt etwa {} Minuten.",
            "over_30": "Die Wartezeit beträgt leider mehr als eine halbe Stunde.",
            "patience": "Bitte haben Sie noch etwas Geduld.",
        },
        "",
    )
)

PROMPTS_EN: dict[str, str] = queue_prompts(
    _EN_NUMBERS,
    _EN_MINUTES,
    {
        "position": "Your position is {}.",
        "many": "There are ten or more callers ahead of you.",
        "under_1": "The expected wait is less than one minute.",
        "one_minute": "The expected wait is about {} minute.",
        "minutes": "The expected wait is about {} minutes.",
        "over_30": "We are sorry, the expected wait is more than half an hour.",
        "patience": "Please hold a little longer.",
    },
    "_en",
)
PROMPTS_EN["caller_blocked_en"] = "We are sorry, this hotline does not take calls from your number. Goodbye."
PROMPTS_EN["hold_callback_en"] = "If you would rather be called back, press 2. You keep your place in the queue."


# A callback that keeps the caller's place (calls/callback.py, the mode's "callback" node): the
# number is read back digit by digit with the digit_* prompts, in German and in English.
_DE_DIGITS = ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun")
_EN_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def callback_prompts(digits: tuple[str, ...], texts: dict[str, str], suffix: str) -> dict[str, str]:
    out = {f"digit_{n}{suffix}": word for n, word in enumerate(digits)}
    out.update({f"callback_{key}{suffix}": text for key, text in texts.items()})
    return out


PROMPTS.update(
    callback_prompts(
        _DE_DIGITS,
        {
            "number_is": "Wir rufen Sie zurück unter der Nummer",
            "confirm": (
                "Zum Bestätigen drücken Sie die 1. Oder geben Sie eine andere Nummer ein "
                "und drücken Sie die Rautetaste."
            ),
            "enter_number": "Bitte geben Sie Ihre Rufnummer ein und drücken Sie die Rautetaste.",
            "refused": "Diese Nummer können wir leider nicht zurückrufen.",
            "done": (
                "Vielen Dank. Wir rufen Sie zurück, sobald ein Mitarbeiter frei ist. "
                "Sie behalten Ihren Platz in der Warteschlange. Auf Wiederhören."
            ),
            "greeting": "Hier ist die IT-Hotline der Musterfirma. Sie hatten um Rückruf gebeten.",
            "agent": "Rückruf. Der Anrufer wird jetzt angerufen.",
            "hold_over": (
                "Leider ist gerade kein Mitarbeiter frei. Wir rufen Sie später noch einmal an. Auf Wiederhören."
            ),
        },
        "",
    )
)
PROMPTS_EN.update(
    callback_prompts(
        _EN_DIGITS,
        {
            "number_is": "We will call you back at",
            "confirm": "To confirm, press 1. Or enter another number and press the hash key.",
            "enter_number": "Please enter your phone number and press the hash key.",
            "refused": "We are sorry, we cannot call this number.",
            "done": (
                "Thank you. We will call you back as soon as an agent is free. "
                "You keep your place in the queue. Goodbye."
            ),
            "greeting": "This is the IT hotline of Musterfirma. You asked us to call you back.",
            "agent": "Callback. The caller is being called now.",
            "hold_over": "We are sorry, no agent is free right now. We will call you again later. Goodbye.",
        },
        "_en",
    )
)


def speak_text(text: str) -> str:
    for word, fix in SPEAK_FIXES.items():
        text = text.replace(word, fix)
    return text


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        sys.exit(f"make_demo_audio: '{tool}' not found; apt-get install {tool}")
    return path


def synth_prompt(text: str, voice: str = ESPEAK_VOICE) -> np.ndarray:
    """espeak-ng -> sox (resample to 16 kHz, float) -> numpy float64 in [-1, 1]."""
    espeak = _need("espeak-ng")
    sox = _need("sox")
    with tempfile.TemporaryDirectory(prefix="zentrale-tts-") as tmp:
        raw_wav = Path(tmp) / "tts.wav"
        subprocess.run(
            [
                espeak,
                "-v",
                voice,
                "-s",
                str(ESPEAK_SPEED),
                "-p",
                str(ESPEAK_PITCH),
                "-w",
                str(raw_wav),
                speak_text(text) if voice == ESPEAK_VOICE else text,
            ],
            check=True,
        )
        # Float output: no dither, so the result is bit-exact repeatable.
        out = subprocess.run(
            [
                sox,
                "-R",
                "-V1",
                str(raw_wav),
                "-t",
                "raw",
                "-e",
                "floating-point",
                "-b",
                "32",
                "-L",
                "-c",
                "1",
                "-r",
                str(SR),
                "-",
                "rate",
                "-v",
            ],
            check=True,
            capture_output=True,
        ).stdout
    return np.frombuffer(out, dtype="<f4").astype(np.float64)


def _ramp(n: int) -> np.ndarray:
    """Raised-cosine ramp 0 -> 1 of n samples."""
    if n <= 0:
        return np.ones(0)
    return 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)


def finish_prompt(x: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    # espeak-ng sometimes starts voicing on the very first sample; give every
    # prompt room for the same short lead-in.
    x = np.concatenate([np.zeros(int(PROMPT_LEAD_S * SR)), x])
    frame = SR // 100  # 10 ms
    nfr = len(x) // frame
    energy = np.sqrt((x[: nfr * frame].reshape(nfr, frame) ** 2).mean(axis=1))
    thr = np.abs(x).max() * 10 ** (TRIM_THRESHOLD_DB / 20)
    loud = np.nonzero(energy > thr)[0]
    if len(loud) == 0:
        raise RuntimeError("espeak-ng produced silence")
    start = max(0, loud[0] * frame - int(PROMPT_LEAD_S * SR))
    end = min(len(x), (loud[-1] + 1) * frame + int(PROMPT_TAIL_S * SR))
    x = x[start:end].copy()
    x *= 10 ** (PROMPT_PEAK_DBFS / 20) / np.abs(x).max()
    nin = int(PROMPT_FADE_IN_S * SR)
    nout = int(PROMPT_FADE_OUT_S * SR)
    x[:nin] *= _ramp(nin)
    x[-nout:] *= _ramp(nout)[::-1]
    return x


# ---------------------------------------------------------------------------
# Music: a tiny additive/FM synthesiser rendering a score into a circular
# buffer.  Notes that ring past the end of the loop wrap around to its start,
# and all filtering and reverb is applied in the frequency domain of the whole
# loop (i.e. it is the steady-state response of the looped signal), so the end
# of each file flows into its start without any seam.
# ---------------------------------------------------------------------------

MUSIC_PEAK_DBFS = -6.0


def hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12)


def _note_env(dur: float, attack: float, release: float) -> tuple[np.ndarray, np.ndarray]:
    """Time axis and gate envelope: attack ramp, hold until note-off, release to exactly 0."""
    n_on = max(1, round(dur * SR))
    n_rel = max(1, round(release * SR))
    n_att = min(n_on, max(1, round(attack * SR)))
    env = np.ones(n_on + n_rel)
    env[:n_att] = _ramp(n_att)
    env[n_on:] = _ramp(n_rel)[::-1]
    t = np.arange(n_on + n_rel) / SR
    return t, env


def _partials(f: float, t: np.ndarray, ratios, amps, taus, limit=3900.0) -> np.ndarray:
    out = np.zeros_like(t)
    for k, (r, a, tau) in enumerate(zip(ratios, amps, taus, strict=False)):
        if f * r > limit:
            continue
        out += a * np.exp(-t / tau) * np.sin(2 * np.pi * f * r * t + 0.37 * k)
    return out


def epiano(f: float, dur: float, vel: float) -> np.ndarray:
    """Soft electric piano: ratio-1 FM with a decaying index (bright attack, mellow body)."""
    t, env = _note_env(dur, 0.004, 0.35)
    index = 1.1 * np.exp(-t / 0.45) + 0.12
    ph = 2 * np.pi * f * t
    tone = np.sin(ph + index * np.sin(ph)) + 0.12 * np.sin(2 * ph) * np.exp(-t / 0.3)
    return vel * tone * np.exp(-t / 1.5) * env


def pad(f: float, dur: float, vel: float) -> np.ndarray:
    """Warm string-like pad: three slightly detuned voices, soft rolled-off harmonics."""
    t, env = _note_env(dur, 0.6, 1.0)
    out = np.zeros_like(t)
    for v, cents in enumerate((-6.0, 0.0, 5.0)):
        fv = f * 2 ** (cents / 1200)
        for k in range(1, 9):
            if fv * k > 3600:
                break
            out += k**-1.7 * np.sin(2 * np.pi * fv * k * t + 1.3 * v + 0.7 * k)
    return vel * out / 3 * env


def pluck(f: float, dur: float, vel: float) -> np.ndarray:
    """Harp/nylon-guitar-like pluck: plucked-string spectrum, upper partials die first."""
    t, env = _note_env(dur, 0.002, 0.25)
    ks = range(1, 13)
    amps = [abs(math.sin(math.pi * k * 0.22)) / k for k in ks]
    taus = [1.4 / (1 + 0.55 * (k - 1)) for k in ks]
    return vel * _partials(f, t, list(ks), amps, taus) * env


def flute(f: float, dur: float, vel: float) -> np.ndarray:
    """Breathy-free flute/recorder: few harmonics, soft attack, gentle delayed vibrato."""
    t, env = _note_env(dur, 0.09, 0.2)
    depth = 0.004 * np.clip((t - 0.25) / 0.4, 0, 1)
    inst = f * (1 + depth * np.sin(2 * np.pi * 5.0 * t))
    ph = 2 * np.pi * np.cumsum(inst) / SR
    tone = np.sin(ph) + 0.30 * np.sin(2 * ph + 0.4) + 0.10 * np.sin(3 * ph + 1.1) + 0.04 * np.sin(4 * ph)
    swell = 0.85 + 0.15 * np.clip(t / 0.5, 0, 1)
    return vel * tone * swell * env


def vibes(f: float, dur: float, vel: float) -> np.ndarray:
    """Vibraphone: bar partials 1 : 3.98 : 9.2 with motor tremolo."""
    t, env = _note_env(dur, 0.003, 0.5)
    tone = _partials(f, t, (1.0, 3.98, 9.2), (1.0, 0.22, 0.05), (2.2, 0.45, 0.12))
    trem = 1 - 0.16 * (0.5 - 0.5 * np.cos(2 * np.pi * 5.2 * t))
    return vel * tone * trem * env


def marimba(f: float, dur: float, vel: float) -> np.ndarray:
    """Soft-mallet marimba: partials 1 : 4 : 9.9, short decay."""
    t, env = _note_env(dur, 0.003, 0.2)
    return vel * _partials(f, t, (1.0, 4.0, 9.9), (1.0, 0.16, 0.03), (0.6, 0.13, 0.04)) * env


def bass(f: float, dur: float, vel: float) -> np.ndarray:
    """Round plucked bass.  Rich in 2nd-5th harmonics so its pitch survives the
    telephone band (which cuts the fundamental below ~300 Hz)."""
    t, env = _note_env(dur, 0.008, 0.15)
    amps = (0.8, 1.0, 0.8, 0.5, 0.3, 0.15, 0.08)
    taus = tuple(1.6 / (1 + 0.35 * k) for k in range(len(amps)))
    return vel * _partials(f, t, range(1, len(amps) + 1), amps, taus) * env


@dataclass
class Piece:
    name: str
    beat_s: float  # seconds per beat (chosen so a beat is a whole number of samples)
    beats_per_bar: int
    bars: int
    reverb_rt60: float
    reverb_mix: float

    @property
    def beat_n(self) -> int:
        n = self.beat_s * SR
        assert abs(n - round(n)) < 1e-9, "beat must be a whole number of samples"
        return round(n)

    @property
    def length(self) -> int:
        return self.beat_n * self.beats_per_bar * self.bars

    def new_buffer(self) -> np.ndarray:
        return np.zeros(self.length)

    def place(self, buf: np.ndarray, sig: np.ndarray, beat: float) -> None:
        """Add sig at the given beat, wrapping around the end of the loop."""
        n = len(buf)
        pos = round(beat * self.beat_n) % n
        while len(sig):
            take = min(len(sig), n - pos)
            buf[pos : pos + take] += sig[:take]
            sig = sig[take:]
            pos = 0

    def note(self, buf, instr, beat, dur_beats, midi, vel=1.0):
        self.place(buf, instr(hz(midi), dur_beats * self.beat_s, vel), beat)


def loop_filter(x: np.ndarray, rt60: float, mix: float) -> np.ndarray:
    """Telephone-band shaping + Schroeder reverb, applied circularly to a loop.

    For a periodic signal the steady-state output of any linear filter H is
    irfft(rfft(x) * H(e^{jw_k})), so we just evaluate each filter's frequency
    response on the FFT grid of the loop.
    """
    n = len(x)
    X = np.fft.rfft(x)
    f = np.fft.rfftfreq(n, 1 / SR)
    w = 2 * np.pi * f / SR
    z1 = np.exp(-1j * w)  # z^-1

    # Zero-phase band shaping: Butterworth magnitudes, high-pass 2nd order at
    # 220 Hz, low-pass 4th order at 3400 Hz.
    with np.errstate(divide="ignore"):
        hp = 1 / np.sqrt(1 + (220.0 / np.maximum(f, 1e-9)) ** 4)
    hp[0] = 0.0
    lp = 1 / np.sqrt(1 + (f / 3400.0) ** 8)
    X = X * hp * lp

    # Reverb: 20 ms pre-delay, 4 damped feedback combs in parallel, 2 allpasses in series.
    rev = z1 ** int(0.020 * SR)
    combs = np.zeros_like(X)
    damp = 0.35
    for d in (557, 617, 683, 743):
        g = 10 ** (-3 * d / (rt60 * SR))
        lp1 = (1 - damp) / (1 - damp * z1)
        combs += 1 / (1 - g * lp1 * z1**d)
    rev = rev * combs / 4
    for d, g in ((202, 0.5), (124, 0.5)):
        rev = rev * (-g + z1**d) / (1 - g * z1**d)
    # keep the reverb's level comparable to the dry sound
    wet = np.fft.irfft(X * rev, n)
    dry = np.fft.irfft(X, n)
    wet *= np.sqrt((dry**2).mean() / max((wet**2).mean(), 1e-20))
    return (1 - mix) * dry + mix * wet


def music_a() -> tuple[Piece, np.ndarray]:
    """Team LVS: C major, 100 bpm 4/4, e-piano melody over pad and bass. Calm."""
    p = Piece("music_a", beat_s=0.6, beats_per_bar=4, bars=8, reverb_rt60=1.8, reverb_mix=0.30)
    mel, acc, pd, bs = (p.new_buffer() for _ in range(4))
    # (pad voicing, bass note) per bar:  C  Am  F  G | C  Em  Dm7  G(sus4->G)
    chords = [
        ((60, 64, 67), 48),
        ((57, 60, 64), 45),
        ((57, 60, 65), 53),
        ((59, 62, 67), 55),
        ((60, 64, 67), 48),
        ((59, 64, 67), 52),
        ((57, 60, 62, 65), 50),
        ((60, 62, 67), 55),
    ]
    melody = [  # (bar, beat, beats, midi)
        (0, 0, 1.5, 76),
        (0, 1.5, 0.5, 74),
        (0, 2, 1, 72),
        (0, 3, 1, 67),
        (1, 0, 1, 69),
        (1, 1, 1, 72),
        (1, 2, 2, 76),
        (2, 0, 1.5, 77),
        (2, 1.5, 0.5, 76),
        (2, 2, 1, 72),
        (2, 3, 1, 69),
        (3, 0, 2, 74),
        (3, 2, 1, 71),
        (3, 3, 1, 74),
        (4, 0, 1.5, 79),
        (4, 1.5, 0.5, 76),
        (4, 2, 2, 72),
        (5, 0, 1, 71),
        (5, 1, 1, 76),
        (5, 2, 1, 79),
        (5, 3, 1, 76),
        (6, 0, 1, 77),
        (6, 1, 0.5, 76),
        (6, 1.5, 0.5, 74),
        (6, 2, 1, 72),
        (6, 3, 1, 69),
        (7, 0, 1.5, 71),
        (7, 1.5, 0.5, 72),
        (7, 2, 2, 74),
    ]
    for bar, beat, dur, m in melody:
        p.note(mel, epiano, bar * 4 + beat, dur, m, 1.0 if beat == 0 else 0.85)
    for bar, (voicing, root) in enumerate(chords):
        b0 = bar * 4
        if bar == 7:  # G sus4 for two beats, resolving to G on beat 3
            for m in voicing:
                p.note(pd, pad, b0, 2, m)
            for m in (59, 62, 67):
                p.note(pd, pad, b0 + 2, 2, m)
        else:
            for m in voicing:
                p.note(pd, pad, b0, 4, m)
        # gentle broken chord in quarters, one octave below the melody
        order = (voicing[0], voicing[-1], voicing[1], voicing[-1])
        for i, m in enumerate(order):
            p.note(acc, epiano, b0 + i, 1, m, 0.55 if i == 0 else 0.4)
        p.note(bs, bass, b0, 2.5, root)
        p.note(bs, bass, b0 + 2.5, 1.5, root + 7, 0.7)
    mix = 1.0 * mel + 0.55 * acc + 0.30 * pd + 0.55 * bs
    return p, mix


def music_b() -> tuple[Piece, np.ndarray]:
    """Team SAP: F major, 120 bpm 3/4 waltz, flute melody over harp arpeggios and bass."""
    p = Piece("music_b", beat_s=0.5, beats_per_bar=3, bars=12, reverb_rt60=1.5, reverb_mix=0.28)
    mel, arp, bs = (p.new_buffer() for _ in range(3))
    # (root midi for arpeggio, third, seventh-or-None) per bar
    # F  Dm  Bb  C | F  Am  Bb  C | Dm  Bb  Gm7  C7
    chords = [
        (53, 4, None),
        (50, 3, None),
        (46, 4, None),
        (48, 4, None),
        (53, 4, None),
        (45, 3, None),
        (46, 4, None),
        (48, 4, None),
        (50, 3, None),
        (46, 4, None),
        (43, 3, 10),
        (48, 4, 10),
    ]
    melody = [
        (0, 0, 2, 77),
        (0, 2, 1, 79),
        (1, 0, 2, 81),
        (1, 2, 1, 77),
        (2, 0, 2, 74),
        (2, 2, 1, 77),
        (3, 0, 3, 76),
        (4, 0, 1, 72),
        (4, 1, 1, 77),
        (4, 2, 1, 81),
        (5, 0, 2, 84),
        (5, 2, 1, 81),
        (6, 0, 1, 82),
        (6, 1, 1, 81),
        (6, 2, 1, 79),
        (7, 0, 3, 79),
        (8, 0, 2, 81),
        (8, 2, 1, 77),
        (9, 0, 2, 74),
        (9, 2, 1, 77),
        (10, 0, 1, 77),
        (10, 1, 1, 74),
        (10, 2, 1, 70),
        (11, 0, 2, 72),
        (11, 2, 1, 76),
    ]
    for bar, beat, dur, m in melody:
        p.note(mel, flute, bar * 3 + beat, dur * 0.95, m, 1.0 if beat == 0 else 0.9)
    for bar, (r, third, sev) in enumerate(chords):
        b0 = bar * 3
        r = r + 12 if r < 48 else r  # keep the arpeggio inside the phone band
        top = r + 12 + third
        upper = r + sev if sev else r + 12
        pattern = (r, r + 7, upper, top, r + 12, r + 7)  # six eighths
        for i, m in enumerate(pattern):
            p.note(arp, pluck, b0 + i * 0.5, 1.5, m, 0.75 if i == 0 else 0.55)
        broot = chords[bar][0]
        p.note(bs, bass, b0, 2, broot if broot < 48 else broot - 12)
        p.note(bs, bass, b0 + 2, 1, (broot if broot < 48 else broot - 12) + 7, 0.6)
    mix = 0.85 * mel + 0.55 * arp + 0.50 * bs
    return p, mix


def music_c() -> tuple[Piece, np.ndarray]:
    """Team PC: E-flat major, ~86 bpm 4/4, vibraphone melody, marimba, pad, bass. Jazzy-mellow."""
    p = Piece("music_c", beat_s=0.7, beats_per_bar=4, bars=8, reverb_rt60=2.0, reverb_mix=0.32)
    mel, mar, pd, bs = (p.new_buffer() for _ in range(4))
    # Ebmaj7  Cm7  Abmaj7  Bb7sus4->Bb7 | Gm7  Cm7  Fm7  Bb7
    chords = [
        ((55, 58, 62, 67), 51),
        ((58, 60, 63, 67), 48),
        ((56, 60, 63, 67), 44),
        ((56, 58, 63, 65), 46),
        ((58, 62, 65, 67), 43),
        ((58, 60, 63, 67), 48),
        ((56, 60, 63, 65), 53),
        ((56, 58, 62, 65), 46),
    ]
    melody = [
        (0, 0, 1.5, 79),
        (0, 1.5, 0.5, 77),
        (0, 2, 2, 74),
        (1, 0, 1, 75),
        (1, 1, 1, 79),
        (1, 2, 2, 82),
        (2, 0, 1.5, 84),
        (2, 1.5, 0.5, 82),
        (2, 2, 1, 79),
        (2, 3, 1, 75),
        (3, 0, 2, 77),
        (3, 2, 2, 74),
        (4, 0, 1.5, 82),
        (4, 1.5, 0.5, 79),
        (4, 2, 1, 77),
        (4, 3, 1, 74),
        (5, 0, 2, 75),
        (5, 2, 1, 79),
        (5, 3, 1, 82),
        (6, 0, 1.5, 80),
        (6, 1.5, 0.5, 79),
        (6, 2, 1, 77),
        (6, 3, 1, 72),
        (7, 0, 2, 74),
        (7, 2, 1, 77),
        (7, 3, 1, 80),
    ]
    for bar, beat, dur, m in melody:
        p.note(mel, vibes, bar * 4 + beat, dur, m, 1.0 if beat in (0, 2) else 0.85)
    for bar, (voicing, root) in enumerate(chords):
        b0 = bar * 4
        if bar == 3:  # Bb7sus4 for two beats, then Bb7
            for m in voicing:
                p.note(pd, pad, b0, 2, m)
            for m in (56, 58, 62, 65):
                p.note(pd, pad, b0 + 2, 2, m)
        else:
            for m in voicing:
                p.note(pd, pad, b0, 4, m)
        # marimba: a lazy syncopated figure on chord tones
        v = voicing
        for beat, m, vel in ((0, v[0], 0.7), (1, v[2], 0.5), (1.5, v[3], 0.5), (2.5, v[1], 0.55), (3, v[3], 0.45)):
            if bar == 3 and beat >= 2:
                m = {63: 62}.get(m, m)  # sus4 -> 3rd
            p.note(mar, marimba, b0 + beat, 0.5, m, vel)
        p.note(bs, bass, b0, 1.5, root)
        p.note(bs, bass, b0 + 1.5, 0.5, root, 0.5)
        p.note(bs, bass, b0 + 2, 2, root + 7, 0.7)
    mix = 0.9 * mel + 0.45 * mar + 0.25 * pd + 0.42 * bs
    return p, mix


MUSIC = (music_a, music_b, music_c)


def render_music(fn) -> tuple[str, np.ndarray]:
    piece, dry = fn()
    x = loop_filter(dry, piece.reverb_rt60, piece.reverb_mix)
    x *= 10 ** (MUSIC_PEAK_DBFS / 20) / np.abs(x).max()
    return piece.name, x


# ---------------------------------------------------------------------------
# I/O and checks
# ---------------------------------------------------------------------------


def write_wav(path: Path, x: np.ndarray) -> None:
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SR), path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768


def _db(v: float) -> float:
    return 20 * math.log10(max(v, 1e-12))


def check_prompt(path: Path) -> list[str]:
    x = read_wav(path)
    problems = []
    peak = np.abs(x).max()
    rms = math.sqrt((x**2).mean()) if len(x) else 0.0
    frame = SR // 100
    nfr = len(x) // frame
    energy = np.sqrt((x[: nfr * frame].reshape(nfr, frame) ** 2).mean(axis=1))
    loud = np.nonzero(energy > peak * 10 ** (TRIM_THRESHOLD_DB / 20))[0]
    lead = loud[0] * frame / SR if len(loud) else float("nan")
    tail = (len(x) - (loud[-1] + 1) * frame) / SR if len(loud) else float("nan")
    clipped = int((np.abs(x) >= 32767 / 32768).sum())
    shortest = SR * 3 // 10 if path.name.startswith("digit_") else SR // 2  # "acht" is a short word
    if len(x) < shortest or rms < 10 ** (-35 / 20):
        problems.append("empty or nearly silent")
    if clipped:
        problems.append(f"{clipped} clipped samples")
    if not -3.5 <= _db(peak) <= -2.5:
        problems.append(f"peak {_db(peak):.1f} dBFS")
    if lead > 0.1 or tail > 0.1:
        problems.append(f"silence lead {lead * 1000:.0f} ms / tail {tail * 1000:.0f} ms")
    print(
        f"  {path.name:20s} {len(x) / SR:6.2f} s  {path.stat().st_size / 1024:7.1f} KiB  "
        f"RMS {_db(rms):6.1f} dBFS  peak {_db(peak):5.1f} dBFS  "
        f"lead {lead * 1000:3.0f} ms  tail {tail * 1000:3.0f} ms" + ("  !! " + "; ".join(problems) if problems else "")
    )
    return problems


def check_music(path: Path) -> list[str]:
    x = read_wav(path)
    problems = []
    peak = np.abs(x).max()
    rms = math.sqrt((x**2).mean())
    steps = np.abs(np.diff(x))
    seam = abs(x[0] - x[-1])
    typical = float(np.percentile(steps, 99))
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    band = spec[(f >= 300) & (f <= 3400)].sum() / spec.sum()
    if seam > max(typical, 1e-3):
        problems.append(f"seam jump {seam:.4f} > 99th pct step {typical:.4f}")
    if not -6.5 <= _db(peak) <= -5.5:
        problems.append(f"peak {_db(peak):.1f} dBFS")
    if band < 0.8:
        problems.append(f"only {band:.0%} of energy in 300-3400 Hz")
    print(
        f"  {path.name:20s} {len(x) / SR:6.2f} s  {path.stat().st_size / 1024:7.1f} KiB  "
        f"RMS {_db(rms):6.1f} dBFS  peak {_db(peak):5.1f} dBFS  "
        f"seam |last-first| {seam * 32768:4.0f} LSB (99% of steps <= {typical * 32768:.0f} LSB)  "
        f"300-3400 Hz: {band:.1%}" + ("  !! " + "; ".join(problems) if problems else "")
    )
    return problems


def check_all() -> int:
    problems = 0
    print("prompts:")
    for name in [*PROMPTS, *PROMPTS_EN]:
        problems += len(check_prompt(PROMPT_DIR / f"{name}.wav"))
    print("music:")
    for fn in MUSIC:
        problems += len(check_music(MUSIC_DIR / f"{fn.__name__}.wav"))
    files = sorted(PROMPT_DIR.glob("*.wav")) + sorted(MUSIC_DIR.glob("*.wav"))
    total = sum(p.stat().st_size for p in files)
    print(f"total: {len(files)} files, {total} bytes ({total / 1e6:.2f} MB, {total / 2**20:.2f} MiB)")
    if total >= MAX_TOTAL_BYTES:
        print(f"  !! total size is not under {MAX_TOTAL_BYTES / 1e6:.0f} MB")
        problems += 1
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only analyse the existing files")
    ap.add_argument("--missing", action="store_true", help="only write prompts that do not exist yet")
    args = ap.parse_args()
    if not args.check:
        for voice, prompts in ((ESPEAK_VOICE, PROMPTS), (ESPEAK_VOICE_EN, PROMPTS_EN)):
            for name, text in prompts.items():
                path = PROMPT_DIR / f"{name}.wav"
                if not (args.missing and path.exists()):
                    write_wav(path, finish_prompt(synth_prompt(text, voice)))
        for fn in MUSIC if not args.missing else ():
            name, x = render_music(fn)
            write_wav(MUSIC_DIR / f"{name}.wav", x)
    problems = check_all()
    if problems:
        print(f"{problems} problem(s) found")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
