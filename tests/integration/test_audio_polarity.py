"""The sign of the audio survives the box: real pjsua2 phones, speech, signed correlation.

A round trip through one codec cannot see an inverted sign; a caller on A-law
bridged to an agent on µ-law can (the A-law tables we once used inverted it:
correlation -1.00). Speech from espeak-ng (female voice, deterministic), band
limited to the telephone band, compared block by block (40 ms) at the lag
where the recording matches best; the median of the blocks' signed
correlation is robust to a slip or two of the jitter buffers on the way.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.harness.audio import PROMPTS, prompt_seconds, read_wav, resample, write_wav
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.modes import fast_mode
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers

SPEECH = "Guten Tag. Sie sind mit der Hotline verbunden. Bitte sagen Sie uns, worum es geht."


def speech_wav(path: Path, rate: int) -> Path:
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "de+f2", "-s", "150", "-w", str(raw), SPEECH], check=True, timeout=30)
    x, r = read_wav(raw)
    x = resample(x, r, rate)
    write_wav(path, 0.5 * x / float(np.max(np.abs(x))), rate)
    return path


def band(x: np.ndarray, rate: int) -> np.ndarray:
    spectrum = np.fft.rfft(np.asarray(x, dtype=np.float64) - np.mean(x))
    f = np.fft.rfftfreq(len(x), 1 / rate)
    spectrum[(f < 300) | (f > 3400)] = 0
    return np.fft.irfft(spectrum, len(x))


def signed_correlation(recorded: np.ndarray, reference: np.ndarray, rate: int) -> float:
    """Median over 40 ms blocks of the speech of the signed correlation coefficient,
    each block at the lag (within ±40 ms of the overall one) where it matches best."""
    rec, ref = band(recorded, rate), band(reference, rate)
    n = 1 << int(np.ceil(np.log2(len(rec) + len(ref))))
    xc = np.fft.irfft(np.fft.rfft(rec, n) * np.conj(np.fft.rfft(ref, n)), n)
    lag = int(np.argmax(np.abs(xc)))
    lag = lag if lag < n // 2 else lag - n
    block, drift = int(0.04 * rate), int(0.04 * rate)
    loud = np.sqrt(np.mean(ref * ref)) * 0.3
    values = []
    for start in range(0, len(ref) - block, block):
        piece = ref[start : start + block]
        if np.sqrt(np.mean(piece * piece)) < loud:
            continue
        best = 0.0
        for shift in range(-drift, drift + 1):
            at = lag + start + shift
            if at < 0 or at + block > len(rec):
                continue
            r = float(np.corrcoef(piece, rec[at : at + block])[0, 1])
            if abs(r) > abs(best):
                best = r
        values.append(best)
    assert len(values) > 20, "too little speech found in the recording"
    return float(np.median(values))


def at_8k(x: np.ndarray, rate: int) -> np.ndarray:
    return resample(x, rate, 8000)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    config = {
        "teams": [
            {"id": team, "name": team.upper(), "distribution": "pull", "ring_timeout": 6, "wrap_up": 0}
            for team in ("lvs", "sap", "pc")
        ]
    }
    mode = fast_mode()
    mode["nodes"]["queue_lvs"]["hold"] = [{"music": "music_a", "seconds": 60}]
    with running_daemon(tmp_path_factory.mktemp("polarity"), mode=mode, config=config) as d:
        r = d.http.put("/api/agents/home", json={"name": "Home", "teams": ["lvs"], "priority": 0})
        assert r.status_code == 200, r.text
        yield d


def test_an_alaw_caller_and_a_ulaw_agent_hear_each_other_with_the_right_sign(
    box: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    caller_speech, agent_speech = speech_wav(tmp_path / "caller.wav", 8000), speech_wav(tmp_path / "agent.wav", 8000)
    agent = sip_phones(name="agent", bind_ip="127.0.0.40", auto_answer="200", codecs="PCMU", record_dir=tmp_path)
    r = box.http.post(
        "/api/agents/home/login", json={"number": f"sip:home@127.0.0.40:{agent.sip_port}", "teams": ["lvs"]}
    )
    assert r.status_code == 200, r.text
    caller = sip_phones(name="caller", bind_ip="127.0.0.41", codecs="PCMA")
    caller_rx = tmp_path / "caller-rx.wav"
    call = caller.call(box.uri, record=caller_rx)
    caller.wait_event("media_active", call=call, timeout=5)
    time.sleep(prompt_seconds("greeting") + 1.0)
    caller.dtmf(call, "1")
    entry = wait_until(lambda: box.http.get("/api/queues", params={"team": "lvs"}).json(), 5, "queue")[0]
    r = box.http.post(f"/api/queues/{entry['entry_id']}/pull", json={"agent": "home", "wait": True}, timeout=20)
    assert r.json()["result"] == "answered"
    ring = agent.wait_event("incoming", timeout=5)
    agent.wait_event("media_active", call=ring["call"], timeout=5)
    caller.play(call, caller_speech, loop=True)
    agent.play(ring["call"], agent_speech, loop=True)
    time.sleep(2 * len(read_wav(caller_speech)[0]) / 8000 + 1.0)
    caller.hangup(call)
    caller.wait_event("recording_done", call=call, timeout=5)
    agent_rx = Path(agent.wait_event("recording_done", call=ring["call"], timeout=5)["path"])

    heard_by_agent = at_8k(*read_wav(agent_rx))  # pjsua records at its bridge's rate
    reference, _ = read_wav(caller_speech)
    assert signed_correlation(heard_by_agent, reference, 8000) > 0.9

    heard_by_caller = at_8k(*read_wav(caller_rx))
    tail = heard_by_caller[-int(2 * len(reference)) :]
    assert signed_correlation(tail, read_wav(agent_speech)[0], 8000) > 0.9

    # the greeting reached the A-law caller with its sign too
    greeting, grate = read_wav(PROMPTS / "greeting.wav")
    start = heard_by_caller[: int((prompt_seconds("greeting") + 1.0) * 8000)]
    assert signed_correlation(start, resample(greeting, grate, 8000), 8000) > 0.9
