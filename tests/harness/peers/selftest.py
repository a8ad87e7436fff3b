"""Hand-run proof that the pjsua2 phone harness works (not collected by pytest).

    /tmp/probe-venv/bin/python tests/harness/peers/selftest.py [--python PY] [--keep DIR]

Two phone processes call each other over loopback (UDP and TCP) and the
checks below print their measured numbers; the exit code is the number of
failed checks.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import audio as ac
from phone import Phone, PhoneError, phone_pool

SPEECH_1 = "Guten Tag, Sie sind mit der Hotline verbunden. Bitte haben Sie einen Moment Geduld."
SPEECH_2 = "Unser Büro ist montags bis freitags von acht bis siebzehn Uhr für Sie erreichbar."


def say(text: str) -> None:
    """Progress goes to the terminal at once (this is a hand-run program)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class Report:
    def __init__(self) -> None:
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.failed += not ok
        say(f"  [{'PASS' if ok else 'FAIL'}] {name}: {detail}")
        return ok


def segment(x: Any, rate: int, start: float, end: float) -> Any:
    return x[max(0, int(start * rate)) : max(0, int(end * rate))]


def basic_call(report: Report, start: Callable[..., Phone], work: Path, transport: str) -> None:
    """A calls B; tones both ways, DTMF both methods, hold/unhold, hangup."""
    say(f"\n== direct call over {transport.upper()} ==")
    tone_1k = ac.make_tone_wav(work / "tone1k.wav", 1000, 2.0)
    tone_440 = ac.make_tone_wav(work / "tone440.wav", 440, 2.0)
    rec_dir = work / f"b-{transport}"
    b = start(name=f"b-{transport}", transport=transport, play=tone_1k, play_loop=True, record_dir=rec_dir)
    a = start(name=f"a-{transport}", transport=transport, display_name="Anna Anrufer", user="anna")
    a_wav = work / f"a-{transport}.wav"
    call = a.call(f"sip:100@127.0.0.1:{b.sip_port}", record=a_wav, play=tone_440, play_loop=True)
    t_media = a.wait_event("media_active", call=call)["t"]
    incoming = b.wait_event("incoming")
    bcall = incoming["call"]
    report.check(
        "incoming event",
        incoming["user"] == "anna" and incoming["display_name"] == "Anna Anrufer",
        f"user={incoming['user']!r} display={incoming['display_name']!r} "
        f"transport in INVITE={'TCP' if 'SIP/2.0/TCP' in incoming['invite'] else 'UDP'}",
    )
    b.wait_event("state", call=bcall, state="confirmed")
    time.sleep(1.0)

    a.dtmf(call, "123#", method="rfc2833")
    time.sleep(1.5)  # 4 digits x (160 ms + inter-digit gap)
    a.dtmf(call, "123#", method="info")
    deadline = time.monotonic() + 5
    while len(b.find_events("dtmf_received", call=bcall)) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    by_method = {
        m: "".join(e["digit"] for e in b.find_events("dtmf_received", call=bcall, method=m))
        for m in ("rfc2833", "info")
    }
    report.check("DTMF rfc2833", by_method["rfc2833"] == "123#", repr(by_method["rfc2833"]))
    report.check("DTMF info", by_method["info"] == "123#", repr(by_method["info"]))

    mark_a, mark_b = a.mark(), b.mark()
    a.hold(call)
    a_hold = a.wait_event("media", call=call, since=mark_a, status="local_hold")
    b_hold = b.wait_event("media", call=bcall, since=mark_b, status="remote_hold")
    time.sleep(1.0)
    t_hold = a_hold["t"]
    mark_a, mark_b = a.mark(), b.mark()
    a.unhold(call)
    t_unhold = a.wait_event("media_active", call=call, since=mark_a)["t"]
    b.wait_event("media_active", call=bcall, since=mark_b)
    report.check(
        "hold/unhold",
        True,
        f"A local_hold, B remote_hold ({b_hold['t'] - t_hold:+.3f}s), both media_active again after unhold",
    )
    time.sleep(1.0)

    mark_b = b.mark()
    a.hangup(call)
    a_disc = a.wait_event("disconnected", call=call)
    b_disc = b.wait_event("disconnected", call=bcall, since=mark_b)
    report.check(
        "hangup",
        True,
        f"A disconnected code={a_disc['code']} duration={a_disc['duration']:.2f}s; "
        f"B disconnected code={b_disc['code']} reason={b_disc['reason']!r}",
    )
    a_done = a.wait_event("recording_done", call=call)
    b_done = b.wait_event("recording_done", call=bcall)

    rec_a, rate_a = ac.read_wav(a_done["path"])
    rec_b, rate_b = ac.read_wav(b_done["path"])
    lvl_a = ac.tone_level(rec_a, rate_a, 1000)
    lvl_b = ac.tone_level(rec_b, rate_b, 440)
    report.check(
        "A hears 1 kHz",
        lvl_a > 0.8,
        f"{len(rec_a) / rate_a:.2f}s @ {rate_a} Hz, 1 kHz share {lvl_a:.3f}, "
        f"440 Hz share {ac.tone_level(rec_a, rate_a, 440):.4f}, "
        f"dominant {ac.dominant_frequency(rec_a, rate_a):.1f} Hz, {ac.rms_dbfs(rec_a):.1f} dBFS",
    )
    report.check(
        "B hears 440 Hz",
        lvl_b > 0.8,
        f"{len(rec_b) / rate_b:.2f}s @ {rate_b} Hz, 440 Hz share {lvl_b:.3f}, "
        f"dominant {ac.dominant_frequency(rec_b, rate_b):.1f} Hz, {ac.rms_dbfs(rec_b):.1f} dBFS",
    )
    # A's recording starts at its first media_active; during local hold B
    # sends nothing (sendonly/recvonly, RFC 3264 §8.4), after unhold it does.
    held = segment(rec_a, rate_a, t_hold - t_media + 0.3, t_unhold - t_media - 0.1)
    resumed = segment(rec_a, rate_a, t_unhold - t_media + 0.3, t_unhold - t_media + 0.9)
    report.check(
        "audio stops on hold, resumes after unhold",
        ac.active_seconds(held, rate_a) < 0.1 and ac.tone_level(resumed, rate_a, 1000) > 0.8,
        f"A active during hold {ac.active_seconds(held, rate_a):.2f}s "
        f"of {len(held) / rate_a:.2f}s; "
        f"1 kHz share after unhold {ac.tone_level(resumed, rate_a, 1000):.3f}",
    )


def speech_through_call(report: Report, start: Callable[..., Phone], work: Path) -> None:
    """A plays a speech file once; B's recording must correlate with it only."""
    say("\n== speech through a call (per codec) ==")
    if shutil.which("espeak-ng") is None:
        report.check("speech correlation", True, "SKIPPED: espeak-ng not installed")
        return
    for text, name in ((SPEECH_1, "speech1"), (SPEECH_2, "speech2")):
        subprocess.run(["espeak-ng", "-v", "de", "-w", str(work / f"{name}.wav"), text], check=True)
    for codec in ("PCMU", "PCMA", "G722"):
        b = start(name=f"b-{codec}", codecs=codec, record_dir=work / f"speech-{codec}")
        a = start(name=f"a-{codec}", codecs=codec)
        call = a.call(f"sip:1@127.0.0.1:{b.sip_port}", play=work / "speech1.wav")
        a.wait_event("play_done", call=call, timeout=20)
        time.sleep(0.3)
        a.hangup(call)
        path = b.wait_event("recording_done")["path"]
        rec, rate = ac.read_wav(path)
        same, offset = ac.best_correlation(rec, work / "speech1.wav", rate)
        other, _ = ac.best_correlation(rec, work / "speech2.wav", rate)
        report.check(
            f"speech via {codec}",
            same > 0.5 and other < 0.3,
            f"same file {same:.3f} at {offset:.3f}s, other file {other:.3f}, "
            f"active {ac.active_seconds(rec, rate):.2f}s",
        )


def manual_answer(report: Report, start: Callable[..., Phone], work: Path) -> None:
    """--auto-answer none, answer by command, replace the played file, callee hangs up."""
    say("\n== manual answer, play command, callee hangs up ==")
    beep = ac.make_tone_wav(work / "beep.wav", 2000, 0.5)
    b = start(name="b-manual", auto_answer="none")
    a = start(name="a-manual")
    call = a.call(f"sip:1@127.0.0.1:{b.sip_port}", record=work / "manual.wav")
    bcall = b.wait_event("incoming")["call"]
    a.wait_event("state", call=call, state="early")
    time.sleep(0.5)
    still_ringing = not a.find_events("state", call=call, state="confirmed")
    b.answer(bcall, 200)
    t_answer = a.wait_event("media_active", call=call)["t"]
    b.play(bcall, beep)
    done = b.wait_event("play_done", call=bcall)
    time.sleep(0.2)
    b.hangup(bcall)
    disc = a.wait_event("disconnected", call=call)
    a.hangup(call)  # already ended: must be harmless for test cleanups
    rec, rate = ac.read_wav(a.wait_event("recording_done", call=call)["path"])
    report.check(
        "manual answer + play + remote hangup",
        still_ringing and disc["code"] == 200 and ac.tone_level(rec, rate, 2000) > 0.8,
        f"rang 0.5s unanswered; play_done {done['t'] - t_answer:.2f}s after answer; "
        f"A got BYE ({disc['reason']!r}); 2 kHz share {ac.tone_level(rec, rate, 2000):.3f}, "
        f"active {ac.active_seconds(rec, rate):.2f}s",
    )


def too_many_calls(report: Report, start: Callable[..., Phone]) -> None:
    say("\n== 5th simultaneous call on one process ==")
    b = start(name="b-many", auto_answer="200")
    a = start(name="a-many")
    calls = [a.call(f"sip:{n}@127.0.0.1:{b.sip_port}") for n in range(4)]
    for call in calls:
        a.wait_event("state", call=call, state="confirmed")
    began = time.monotonic()
    try:
        a.call(f"sip:5@127.0.0.1:{b.sip_port}")
        report.check("5th outgoing call refused", False, "call was accepted")
    except PhoneError:
        error = a.find_events("error", cmd="call")[-1]
        report.check(
            "5th outgoing call refused",
            True,
            f"error event after {time.monotonic() - began:.3f}s: {error['message']!r}",
        )
    # The callee side of the limit: B already has 4 calls, a third phone calls it.
    c = start(name="c-many")
    extra = c.call(f"sip:6@127.0.0.1:{b.sip_port}")
    disc = c.wait_event("disconnected", call=extra, timeout=10)
    report.check(
        "5th incoming call rejected by pjsua",
        disc["code"] >= 400,
        f"caller got {disc['code']} {disc['reason']!r}; B saw {len(b.find_events('incoming'))} incoming events",
    )
    for call in calls:
        a.hangup(call)
    for call in calls:
        a.wait_event("disconnected", call=call)


def rejections(report: Report, start: Callable[..., Phone]) -> None:
    say("\n== auto-answer with rejection codes ==")
    for code, delay in (("486", 0.5), ("603", 0.0)):
        b = start(name=f"b-{code}", auto_answer=code, answer_delay=delay)
        a = start(name=f"a-{code}")
        call = a.call(f"sip:1@127.0.0.1:{b.sip_port}")
        calling = a.wait_event("state", call=call, state="calling")["t"]
        ringing = a.wait_event("state", call=call, state="early")
        disc = a.wait_event("disconnected", call=call)
        report.check(
            f"--auto-answer {code}",
            disc["code"] == int(code),
            f"caller: 180 then {disc['code']} {disc['reason']!r} after "
            f"{disc['t'] - calling:.3f}s (ringing at +{ringing['t'] - calling:.3f}s)",
        )
        b.stop()
        a.stop()


def registration_failure(report: Report, start: Callable[..., Phone]) -> None:
    """No registrar listening: the phone must report, not hang."""
    say("\n== registration against a dead registrar ==")
    a = start(
        name="a-reg",
        register="sip:127.0.0.1:9;transport=tcp",
        user="u",
        password="p",
        domain="example.test",
        transport="tcp",
    )
    event = a.wait_event("registered", timeout=40)
    report.check(
        "registered event on failure",
        not event["ok"],
        f"code={event['code']} reason={event['reason']!r}",
    )


KAMAILIO_CFG = """#!KAMAILIO
debug=1
log_stderror=yes
children=2
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route() || is_method("ACK|BYE|INVITE")) {{ t_relay(); }}
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("REGISTER")) {{
        # Every user has the password "secret" (no database needed).
        if (!pv_www_authenticate("$td", "secret", "0")) {{ www_challenge("$td", "0"); exit; }}
        save("location");
        exit;
    }}
    record_route();
    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    t_relay();
}}
"""


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (good enough for a hand-run test)."""
    import socket

    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue


def via_registrar(report: Report, start: Callable[..., Phone], work: Path) -> None:
    """Register two phones at a real Kamailio (digest auth) and call by AOR."""
    say("\n== registration and a call through Kamailio ==")
    if shutil.which("kamailio") is None:
        report.check("registrar", True, "SKIPPED: kamailio not installed")
        return
    port = free_port()
    cfg = work / "kamailio.cfg"
    cfg.write_text(KAMAILIO_CFG.format(port=port))
    with open(work / "kamailio.log", "wb") as log:
        proxy = subprocess.Popen(["kamailio", "-DD", "-E", "-f", str(cfg)], stdout=log, stderr=log)
    try:
        time.sleep(1.0)
        if proxy.poll() is not None:
            report.check("registrar", False, f"kamailio exited, see {work / 'kamailio.log'}")
            return
        registrar = f"sip:127.0.0.1:{port}"
        bob = start(
            name="bob",
            register=registrar,
            user="bob",
            password="secret",
            domain="zentrale.test",
            auto_answer="200",
            answer_delay=0.2,
        )
        bad = start(
            name="mallory",
            register=registrar,
            user="mallory",
            password="wrong",
            domain="zentrale.test",
        )
        alice = start(
            name="alice",
            register=registrar,
            user="alice",
            password="secret",
            domain="zentrale.test",
            transport="tcp",
        )
        ok_bob = bob.wait_event("registered", timeout=10)
        ok_alice = alice.wait_event("registered", timeout=10)
        denied = bad.wait_event("registered", timeout=10)
        report.check(
            "REGISTER with digest auth",
            ok_bob["code"] == 200 and ok_alice["code"] == 200 and ok_bob["ok"] and not denied["ok"],
            f"bob {ok_bob['code']} expires {ok_bob['expiration']}s, alice(TCP) "
            f"{ok_alice['code']}, wrong password {denied['code']} {denied['reason']!r}",
        )
        call = alice.call(f"sip:bob@127.0.0.1:{port}")  # ;transport=tcp added by the phone
        incoming = bob.wait_event("incoming")
        alice.wait_event("media_active", call=call)
        alice.dtmf(call, "7")
        digit = bob.wait_event("dtmf_received")
        alice.hangup(call)
        bob.wait_event("disconnected")
        report.check(
            "call by AOR through proxy",
            digit["digit"] == "7",
            f"bob got INVITE for {incoming['request_uri']} from {incoming['user']!r}, DTMF {digit['digit']!r}",
        )
        bob.stop()  # unregisters on quit
        unreg = bob.find_events("registered", expiration=0)
        report.check(
            "unregister on stop",
            bool(unreg),
            f"{unreg[0]['code'] if unreg else 'no'} answer to REGISTER Expires: 0",
        )
    finally:
        proxy.terminate()
        proxy.wait(timeout=5)


def quit_and_orphan(report: Report, start: Callable[..., Phone], work: Path, python: str | None) -> None:
    """quit with a call up finalises recordings; a phone whose parent dies quits."""
    say("\n== quit with active call, orphaned phone ==")
    b = start(name="b-quit")
    a = start(name="a-quit")
    call = a.call(f"sip:1@127.0.0.1:{b.sip_port}", record=work / "quit.wav")
    a.wait_event("media_active", call=call)
    time.sleep(0.5)
    a.stop()
    names = [e["event"] for e in a.events]
    tail = names[names.index("ok") + 1 :] if "ok" in names else names
    report.check(
        "quit hangs up and finishes the WAV",
        "recording_done" in names and b.wait_event("disconnected")["code"] == 200,
        f"events after quit: {tail[-4:]}, WAV {(work / 'quit.wav').stat().st_size} bytes",
    )
    # Parent dies: stdin closes, the phone must leave by itself.
    interpreter = python or sys.executable
    script = (
        f"import sys, time; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r});"
        f"from phone import Phone; p = Phone.start(python={interpreter!r});"
        "print(p.proc.pid, flush=True);"
        "import os; os._exit(0)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    pid = int(out.stdout.split()[0])
    gone_after = None
    for i in range(100):
        # An orphan is reaped by init whenever init gets to it; a zombie
        # ("Z") has already exited.
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except OSError:
            state = "gone"
        if state in ("Z", "gone"):
            gone_after = i * 0.05
            break
        time.sleep(0.05)
    report.check(
        "orphaned phone exits",
        gone_after is not None,
        f"exited {gone_after:.1f}s after its parent" if gone_after is not None else "still running",
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", default=None, help="interpreter with pjsua2 for the phones")
    parser.add_argument("--keep", default=None, help="keep recordings in this directory")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="phone-selftest-"))
    work.mkdir(parents=True, exist_ok=True)
    report = Report()
    started: list[Phone] = []
    with phone_pool() as pool:

        def start(**options: Any) -> Phone:
            phone = pool(python=args.python, **options)
            started.append(phone)
            return phone

        sections: list[tuple[Callable[..., None], tuple[Any, ...]]] = [
            (basic_call, (report, start, work, "udp")),
            (basic_call, (report, start, work, "tcp")),
            (speech_through_call, (report, start, work)),
            (manual_answer, (report, start, work)),
            (too_many_calls, (report, start)),
            (rejections, (report, start)),
            (registration_failure, (report, start)),
            (via_registrar, (report, start, work)),
            (quit_and_orphan, (report, start, work, args.python)),
        ]
        for section, section_args in sections:
            try:
                section(*section_args)
            except Exception as err:  # one broken section must not hide the others
                report.check(section.__name__, False, f"{type(err).__name__}: {err}")
    alive = [p.proc.pid for p in started if p.alive]
    report.check(
        "no phone process left",
        not alive,
        f"{len(started)} phones started, still running: {alive or 'none'}",
    )
    if not args.keep and report.failed == 0:
        shutil.rmtree(work, ignore_errors=True)
        say(f"\n0 failed ({len(started)} phone processes)")
    else:
        say(f"\n{report.failed} failed; recordings and logs in {work}")
    return report.failed


if __name__ == "__main__":
    sys.exit(main())
