#!/usr/bin/env python3
"""One real SIP phone (pjsua2) in its own process, driven by JSON lines.

Run as ``python tests/harness/peers/pjsua_phone.py --bind-ip 127.0.0.1 ...``.

stdin:  one JSON command per line, e.g. ``{"cmd": "call", "uri": "sip:100@h:5070"}``.
        Any command may carry ``"req": <int>``; the answer (``ok`` or ``error``)
        repeats it so a client can pair answers with commands.
stdout: one JSON event per line, flushed, each with ``"event"`` and ``"t"``
        (``time.monotonic()``, comparable across processes on Linux).
        Nothing else ever reaches stdout: pjsua's own console output is
        redirected to stderr at the file-descriptor level (see ``_claim_stdout``).

Commands (``call`` ids are this phone's own, shared by outgoing and incoming):
  call    uri, record?, play?, play_loop?, headers? -> ok {call, sip_call_id}
  answer  call, code=200          hangup  call, code?   (ended call: ok, no-op)
  dtmf    call, digits, method=rfc2833|info, duration_ms=160
  play    call, file (None = silence), loop?
  hold    call                    unhold  call          calls  -> ok {calls}
  transfer call, uri              (sends REFER; the far end decides)
  (a REFER to one of our calls: accepted, or 603 with --transfer refuse)
  quit    hang up, finish recordings, unregister, emit ``stopped``, exit

Closing stdin is the same as ``{"cmd": "quit"}``, so a phone never outlives a
test process that died without cleaning up.

See ``tests/harness/peers/phone.py`` for the client library and the event list.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pjsua2 as pj

# Run as a script, this file's folder is on sys.path.
from pjsua_callbacks import (
    DTMF_METHODS,
    MAX_CALLS,
    MEDIA_STATUS_NAMES,
    STATE_NAMES,
    EventWriter,
    FilePlayer,
    PhoneAccount,
    PhoneCall,
)


def _claim_stdout() -> int:
    """Keep fd 1 for events only and send everything else to stderr.

    libCreate() prints its banner to fd 1 before any LogConfig applies, and the
    C library may print at any time; moving fd 1 to stderr catches all of it.
    """
    events_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return events_fd


@dataclass
class CallSlot:
    """Everything the phone keeps for one call (ours, not pjsua's call id)."""

    id: int
    direction: str  # "out" | "in"
    call: PhoneCall
    record_path: str | None = None
    play_path: str | None = None
    play_loop: bool = False
    recorder: Any = None  # pj.AudioMediaRecorder
    player: Any = None  # pj.AudioMediaPlayer
    answer_due: float | None = None
    answer_code: int = 200
    ended: bool = False
    reaped: bool = False
    # Conference slot the recorder/player are currently wired to; pjsua may
    # recreate the call's port on re-INVITE (hold/unhold), so we rewire then.
    wired_slot: int = -1
    retired: list[Any] = field(default_factory=list)


def _pj_error_text(err: BaseException) -> str:
    """pjsua2.Error carries its message in attributes, not in str()."""
    if isinstance(err, pj.Error):
        return f"{err.title}: {err.reason} (status {err.status})"
    return f"{type(err).__name__}: {err}"


def _existing_file(path: str | None) -> str | None:
    """Fail the command now rather than later inside a media callback."""
    if path and not Path(path).is_file():
        raise FileNotFoundError(f"no such audio file: {path}")
    return path or None


def _with_transport(uri: str, transport: str) -> str:
    """Add ;transport=tcp so a TCP-only phone does not try UDP (RFC 3261 §19.1.1)."""
    if transport == "udp" or "transport=" in uri.lower() or uri.lower().lstrip("<").startswith("sips:"):
        return uri
    if uri.endswith(">"):
        return f"{uri[:-1]};transport={transport}>"
    return f"{uri};transport={transport}"


def _parse_name_addr(value: str) -> tuple[str, str]:
    """Return (display name, user part) of a From/To value like '"A" <sip:u@h>'."""
    display = ""
    addr = value.strip()
    if "<" in addr:
        display = addr[: addr.index("<")].strip().strip('"')
        addr = addr[addr.index("<") + 1 : addr.rindex(">")]
    user = addr.split(":", 1)[-1].split("@", 1)[0] if "@" in addr else ""
    return display, user


class Phone:
    """One user agent: owns the pjsua2 Endpoint, the account and all calls."""

    def __init__(self, args: argparse.Namespace, events: EventWriter) -> None:
        self.args = args
        self.events = events
        self.commands: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.slots: dict[int, CallSlot] = {}
        self.next_id = 1
        self.ep = pj.Endpoint()
        self.account: PhoneAccount | None = None
        self.sip_port = 0
        self.quitting = False

    # ----------------------------------------------------------------- setup
    def start(self) -> None:
        a = self.args
        self.ep.libCreate()
        cfg = pj.EpConfig()
        # No pjsua worker threads: SIP work and its callbacks happen inside our
        # libHandleEvents() calls on this thread (TESTING-NOTES).
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = MAX_CALLS
        cfg.uaConfig.userAgent = a.user_agent
        cfg.logConfig.level = max(a.log_level, a.log_file_level if a.log_file else 0)
        cfg.logConfig.consoleLevel = a.log_level
        if a.log_file:
            cfg.logConfig.filename = a.log_file
        cfg.medConfig.clockRate = a.clock_rate
        cfg.medConfig.sndClockRate = a.clock_rate
        cfg.medConfig.noVad = True  # continuous RTP: RFC 2833 and recordings need it
        cfg.medConfig.ecTailLen = 0
        self.ep.libInit(cfg)

        tcfg = pj.TransportConfig()
        tcfg.boundAddress = a.bind_ip
        tcfg.port = a.port
        ttype = {"tcp": pj.PJSIP_TRANSPORT_TCP, "tls": pj.PJSIP_TRANSPORT_TLS}.get(a.transport, pj.PJSIP_TRANSPORT_UDP)
        if a.transport == "tls":
            tcfg.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
            if a.tls_ca:
                tcfg.tlsConfig.CaListFile = a.tls_ca
            if a.tls_cert:
                tcfg.tlsConfig.certFile = a.tls_cert
                tcfg.tlsConfig.privKeyFile = a.tls_key
            tcfg.tlsConfig.verifyServer = a.tls_verify
        tid = self.ep.transportCreate(ttype, tcfg)
        self.sip_port = int(self.ep.transportGetInfo(tid).localName.rsplit(":", 1)[1])
        self.ep.libStart()
        # No sound card on a test machine; the null device also clocks the
        # conference bridge, which players and recorders depend on.
        self.ep.audDevManager().setNullDev()
        self._set_codecs(a.codecs)
        self.account = self._create_account(tid)
        self.events.emit(
            "ready",
            sip_port=self.sip_port,
            bind_ip=a.bind_ip,
            transport=a.transport,
            # Our address of record: what a caller dials to reach us.
            uri=f"sip:{a.user}@{a.domain or a.bind_ip}" if a.register else f"sip:{a.user}@{a.bind_ip}:{self.sip_port}",
            pid=os.getpid(),
            max_calls=MAX_CALLS,
        )

    def _set_codecs(self, names: str) -> None:
        wanted = [n.strip().lower() for n in names.split(",") if n.strip()]
        available = {c.codecId: c.codecId.split("/")[0].lower() for c in self.ep.codecEnum2()}
        for codec_id in available:
            self.ep.codecSetPriority(codec_id, 0)  # 0 = disabled
        for rank, name in enumerate(wanted):
            matches = [cid for cid, base in available.items() if base == name]
            if not matches:
                raise SystemExit(f"unknown codec {name!r}; have {sorted(set(available.values()))}")
            for cid in matches:
                self.ep.codecSetPriority(cid, 255 - rank)

    def _create_account(self, transport_id: int) -> PhoneAccount:
        a = self.args
        acfg = pj.AccountConfig()
        domain = a.domain or a.bind_ip
        if a.register:
            acfg.idUri = f"sip:{a.user}@{domain}"
            acfg.regConfig.registrarUri = a.register
            acfg.regConfig.timeoutSec = a.reg_expires
            acfg.regConfig.retryIntervalSec = 0  # a test wants one clear answer
            cred = pj.AuthCredInfo("digest", "*", a.auth_user or a.user, 0, a.password or "")
            acfg.sipConfig.authCreds.append(cred)
        else:
            acfg.idUri = a.id_uri or f"sip:{a.user}@{a.bind_ip}:{self.sip_port}"
            if a.password:  # answer digest challenges to our calls (a trunk authenticating)
                cred = pj.AuthCredInfo("digest", "*", a.auth_user or a.user, 0, a.password)
                acfg.sipConfig.authCreds.append(cred)
        if a.display_name:
            acfg.idUri = f'"{a.display_name}" <{acfg.idUri}>'
        if a.proxy:
            acfg.sipConfig.proxies.append(a.proxy)
        acfg.sipConfig.transportId = transport_id
        acfg.mediaConfig.transportConfig.boundAddress = a.bind_ip
        acfg.mediaConfig.transportConfig.port = a.rtp_port_start
        acfg.mediaConfig.transportConfig.portRange = a.rtp_port_range
        acfg.mediaConfig.srtpUse = {
            "none": pj.PJMEDIA_SRTP_DISABLED, "optional": pj.PJMEDIA_SRTP_OPTIONAL,
            "mandatory": pj.PJMEDIA_SRTP_MANDATORY,
        }[a.srtp]  # fmt: skip
        # 0: SDES keys may travel over any hop; 1: only over TLS (pjsua's default)
        acfg.mediaConfig.srtpSecureSignaling = a.srtp_secure_signaling
        if a.mwi:
            # subscribe to the message summary (RFC 3842) of our address of record, at its domain
            # (--domain HOST:PORT); pjsua does so only for an account that registers (--register)
            acfg.mwiConfig.enabled = True
            acfg.mwiConfig.expirationSec = a.mwi_expires
        account = PhoneAccount(self)
        account.create(acfg, True)
        return account

    # ------------------------------------------------------------- main loop
    def run(self) -> None:
        threading.Thread(target=self._read_stdin, name="stdin", daemon=True).start()
        while not self.quitting and not self.events.reader_gone:
            self.ep.libHandleEvents(10)
            self._drain_commands()
            self._answer_due_calls()
            self._reap_ended_calls()
        self._shutdown()

    def _read_stdin(self) -> None:
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                cmd = json.loads(line)
                if not isinstance(cmd, dict):
                    raise ValueError("command must be a JSON object")
            except ValueError as err:
                self.events.emit("error", message=f"bad command line: {err}", line=line)
                continue
            self.commands.put(cmd)
        self.commands.put(None)  # EOF: the controlling test is gone

    def _drain_commands(self) -> None:
        while True:
            try:
                cmd = self.commands.get_nowait()
            except queue.Empty:
                return
            if cmd is None:
                self.quitting = True
                return
            self._dispatch(cmd)

    def _dispatch(self, cmd: dict[str, Any]) -> None:
        name = str(cmd.get("cmd", ""))
        req = cmd.get("req")
        handler = getattr(self, f"cmd_{name}", None)
        if handler is None:
            self.events.emit("error", req=req, cmd=name, message=f"unknown command {name!r}")
            return
        try:
            result = handler(cmd) or {}
        except Exception as err:  # every failure becomes an event, never a dead phone
            self.events.emit("error", req=req, cmd=name, call=cmd.get("call"), message=_pj_error_text(err))
            return
        self.events.emit("ok", req=req, cmd=name, **result)

    def guarded(self, where: str, call_id: int | None, fn: Any, *args: Any) -> None:
        """Run a pjsua callback body; report its exception as an ``error`` event.

        SWIG prints and swallows an exception raised in a director callback,
        so without this a test would only see an event never arrive.
        """
        try:
            fn(*args)
        except Exception as err:
            self.events.emit("error", cmd=where, call=call_id, message=_pj_error_text(err))

    def _slot(self, cmd: dict[str, Any]) -> CallSlot:
        slot = self.slots.get(int(cmd["call"]))
        if slot is None:
            raise KeyError(f"no call {cmd['call']!r}")
        if slot.ended:
            raise RuntimeError(f"call {slot.id} has ended")
        return slot

    def _new_slot(self, call: PhoneCall, direction: str) -> CallSlot:
        slot = CallSlot(id=self.next_id, direction=direction, call=call)
        self.next_id += 1
        call.slot_id = slot.id
        self.slots[slot.id] = slot
        return slot

    def _active_count(self) -> int:
        return sum(1 for s in self.slots.values() if not s.ended)

    # -------------------------------------------------------------- commands
    def cmd_call(self, cmd: dict[str, Any]) -> dict[str, Any]:
        if self._active_count() >= MAX_CALLS:
            raise RuntimeError(
                f"too many calls: this phone process already has {MAX_CALLS} "
                "(pjsua2 limit); start another phone process"
            )
        assert self.account is not None
        play_path = _existing_file(cmd.get("play"))
        call = PhoneCall(self, self.account)
        slot = self._new_slot(call, "out")
        slot.record_path = cmd.get("record")
        slot.play_path = play_path
        slot.play_loop = bool(cmd.get("play_loop", False))
        prm = pj.CallOpParam(True)
        for name, value in (cmd.get("headers") or {}).items():
            header = pj.SipHeader()
            header.hName, header.hValue = name, str(value)
            prm.txOption.headers.append(header)
        try:
            call.makeCall(_with_transport(cmd["uri"], self.args.transport), prm)
        except Exception:
            slot.ended = slot.reaped = True  # never existed for pjsua
            raise
        return {"call": slot.id, "sip_call_id": call.getInfo().callIdString}

    def cmd_answer(self, cmd: dict[str, Any]) -> dict[str, Any]:
        slot = self._slot(cmd)
        slot.answer_due = None  # an explicit answer overrides --auto-answer
        self._answer(slot, int(cmd.get("code", 200)))
        return {"call": slot.id}

    def cmd_hangup(self, cmd: dict[str, Any]) -> dict[str, Any]:
        known = self.slots.get(int(cmd["call"]))
        if known is not None and known.ended:
            # The other side hung up first: fine for a test's cleanup.
            return {"call": known.id, "already_ended": True}
        slot = self._slot(cmd)
        prm = pj.CallOpParam(True)
        if cmd.get("code"):
            prm.statusCode = int(cmd["code"])
        slot.call.hangup(prm)
        return {"call": slot.id}

    def cmd_dtmf(self, cmd: dict[str, Any]) -> dict[str, Any]:
        slot = self._slot(cmd)
        prm = pj.CallSendDtmfParam()
        prm.digits = str(cmd["digits"])
        prm.method = DTMF_METHODS[str(cmd.get("method", "rfc2833")).lower()]
        prm.duration = int(cmd.get("duration_ms", 160))
        slot.call.sendDtmf(prm)
        return {"call": slot.id}

    def cmd_play(self, cmd: dict[str, Any]) -> dict[str, Any]:
        slot = self._slot(cmd)
        slot.play_path = _existing_file(cmd.get("file"))
        slot.play_loop = bool(cmd.get("loop", cmd.get("play_loop", False)))
        self._retire_player(slot)
        if slot.wired_slot >= 0:
            self._start_player(slot, slot.call.getAudioMedia(-1))
        return {"call": slot.id}

    def cmd_hold(self, cmd: dict[str, Any]) -> dict[str, Any]:
        slot = self._slot(cmd)
        slot.call.setHold(pj.CallOpParam(True))
        return {"call": slot.id}

    def cmd_unhold(self, cmd: dict[str, Any]) -> dict[str, Any]:
        slot = self._slot(cmd)
        prm = pj.CallOpParam(True)
        prm.opt.flag = pj.PJSUA_CALL_UNHOLD  # re-INVITE with sendrecv (RFC 3264 §8.4)
        slot.call.reinvite(prm)
        return {"call": slot.id}

    def cmd_transfer(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Blind transfer: send REFER with Refer-To: uri (the far end decides)."""
        slot = self._slot(cmd)
        slot.call.xfer(str(cmd["uri"]), pj.CallOpParam(True))
        return {"call": slot.id}

    def cmd_calls(self, cmd: dict[str, Any]) -> dict[str, Any]:
        live = [s for s in self.slots.values() if not s.ended]
        return {"calls": [{"call": s.id, "direction": s.direction} for s in live]}

    def cmd_quit(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.quitting = True
        return {}

    # ------------------------------------------------------------- callbacks
    def on_incoming_call(self, account: PhoneAccount, prm: Any) -> None:
        call = PhoneCall(self, account, prm.callId)
        slot = self._new_slot(call, "in")
        a = self.args
        if a.record_dir:
            slot.record_path = str(Path(a.record_dir) / f"rx-{self.sip_port}-{slot.id}.wav")
        slot.play_path = a.play
        slot.play_loop = a.play_loop
        info = call.getInfo()
        display, user = _parse_name_addr(info.remoteUri)
        msg = prm.rdata.wholeMsg
        self.events.emit(
            "incoming",
            call=slot.id,
            remote_uri=info.remoteUri,
            display_name=display,
            user=user,
            local_uri=info.localUri,
            request_uri=msg.split("\r\n", 1)[0].split(" ")[1] if msg else "",
            sip_call_id=info.callIdString,
            record=slot.record_path,
            invite=msg,
        )
        # Like a real phone: ring at once, decide later (RFC 3261 §13.3.1.1).
        call.answer(self._op(180))
        if a.auto_answer != "none":
            slot.answer_code = int(a.auto_answer)
            slot.answer_due = time.monotonic() + a.answer_delay

    def on_transfer_request(self, call: PhoneCall, prm: Any) -> None:
        """A REFER to one of our calls (we are the transferee, RFC 3515): accept it
        and call the target with a new call of our own that records and plays like
        the referred one, or refuse it (--transfer refuse: 603)."""
        slot = self.slots.get(call.slot_id)
        if self.args.transfer != "accept" or slot is None or self._active_count() >= MAX_CALLS:
            prm.statusCode = 603
            self.events.emit("transfer_request", call=call.slot_id, uri=prm.dstUri, accepted=False)
            return
        assert self.account is not None
        new = PhoneCall(self, self.account)
        new_slot = self._new_slot(new, "out")
        if slot.record_path:
            new_slot.record_path = str(Path(slot.record_path).with_suffix("")) + f"-xfer{new_slot.id}.wav"
        new_slot.play_path, new_slot.play_loop = slot.play_path, slot.play_loop
        prm.newCall = new
        self.events.emit(
            "transfer_request", call=slot.id, uri=prm.dstUri, accepted=True, new_call=new_slot.id,
            record=new_slot.record_path,
        )  # fmt: skip

    @staticmethod
    def _op(code: int) -> Any:
        prm = pj.CallOpParam(True)
        prm.statusCode = code
        return prm

    def _answer(self, slot: CallSlot, code: int) -> None:
        slot.call.answer(self._op(code))

    def _answer_due_calls(self) -> None:
        now = time.monotonic()
        for slot in list(self.slots.values()):
            if slot.answer_due is not None and now >= slot.answer_due and not slot.ended:
                slot.answer_due = None
                try:
                    self._answer(slot, slot.answer_code)
                except Exception as err:
                    self.events.emit("error", cmd="auto-answer", call=slot.id, message=_pj_error_text(err))

    def on_call_state(self, call: PhoneCall) -> None:
        slot = self.slots.get(call.slot_id)
        if slot is None:
            return
        info = call.getInfo()
        state = STATE_NAMES.get(info.state, str(info.state))
        self.events.emit("state", call=slot.id, state=state, code=info.lastStatusCode, reason=info.lastReason)
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not slot.ended:
            slot.ended = True
            slot.answer_due = None
            self.events.emit(
                "disconnected",
                call=slot.id,
                code=info.lastStatusCode,
                reason=info.lastReason,
                duration=info.connectDuration.sec + info.connectDuration.msec / 1000,
                total_duration=info.totalDuration.sec + info.totalDuration.msec / 1000,
            )

    def on_call_sdp_created(self, call: PhoneCall, prm: Any) -> None:
        """``--no-telephone-event``: our offer or answer without RFC 4733 events, as a gateway
        that sends DTMF only as tones in the audio; pjsua2 re-parses the SDP we change."""
        if self.args.no_telephone_event:
            prm.sdp.wholeSdp = without_telephone_event(prm.sdp.wholeSdp)
            self.events.emit("local_sdp", call=call.slot_id, sdp=prm.sdp.wholeSdp)

    def on_call_media_state(self, call: PhoneCall) -> None:
        slot = self.slots.get(call.slot_id)
        if slot is None or slot.ended:
            return
        info = call.getInfo()
        for media in info.media:
            if media.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            status = MEDIA_STATUS_NAMES.get(media.status, str(media.status))
            self.events.emit("media", call=slot.id, status=status, conf_slot=media.audioConfSlot)
            if media.audioConfSlot < 0:
                continue
            # Remote hold still delivers audio (music on hold): keep recording.
            self._wire_media(slot, call.getAudioMedia(media.index))
            if media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.events.emit("media_active", call=slot.id)
            break  # one audio stream per call is all this phone offers

    # ----------------------------------------------------------------- media
    def _wire_media(self, slot: CallSlot, audio: Any) -> None:
        port = audio.getPortId()
        if port == slot.wired_slot:
            return
        slot.wired_slot = port
        if slot.record_path and slot.recorder is None:
            Path(slot.record_path).parent.mkdir(parents=True, exist_ok=True)
            slot.recorder = pj.AudioMediaRecorder()
            slot.recorder.createRecorder(slot.record_path)
        if slot.recorder is not None:
            audio.startTransmit(slot.recorder)
        # Always feed the null capture device (silence) into the call: pjmedia
        # sends RFC 2833 digits only while frames are put to the stream.
        self.ep.audDevManager().getCaptureDevMedia().startTransmit(audio)
        if slot.player is not None:
            slot.player.startTransmit(audio)
        elif slot.play_path:
            self._start_player(slot, audio)

    def _start_player(self, slot: CallSlot, audio: Any) -> None:
        if not slot.play_path:
            return
        player = FilePlayer(self, slot.id, slot.play_path, slot.play_loop)
        player.createPlayer(slot.play_path, 0 if slot.play_loop else pj.PJMEDIA_FILE_NO_LOOP)
        player.startTransmit(audio)
        slot.player = player

    def _retire_player(self, slot: CallSlot) -> None:
        if slot.player is None:
            return
        player, slot.player = slot.player, None
        with contextlib.suppress(Exception):  # no audio any more: nothing to stop
            player.stopTransmit(slot.call.getAudioMedia(-1))
        slot.retired.append(player)  # destroyed when the call is reaped

    def _reap_ended_calls(self) -> None:
        """Release media of ended calls outside pjsua callbacks."""
        for slot in self.slots.values():
            if not slot.ended or slot.reaped:
                continue
            slot.reaped = True
            slot.retired.append(slot.player)
            slot.player = None
            slot.retired.clear()  # destroys players (pjsua_player_destroy)
            if slot.record_path:
                # The WAV header gets its sizes only when the recorder is
                # destroyed (TESTING-NOTES); drop our only reference now.
                # written=False: the call never had media, so no file exists.
                written = slot.recorder is not None
                slot.recorder = None
                self.events.emit("recording_done", call=slot.id, path=slot.record_path, written=written)
            # slot.call stays referenced: a Call collected late asserts in pjsua2.

    # ------------------------------------------------------------- shutdown
    def _shutdown(self) -> None:
        self.ep.hangupAllCalls()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(not s.ended for s in self.slots.values()):
            self.ep.libHandleEvents(10)
        for slot in self.slots.values():
            slot.ended = True  # calls that never got their BYE answered
        self._reap_ended_calls()
        if self.args.register and self.account is not None:
            try:
                self.account.setRegistration(False)
                end = time.monotonic() + 1.0
                while time.monotonic() < end:
                    self.ep.libHandleEvents(10)
            except Exception:
                pass  # was not registered
        self.events.emit("stopped")
        # libDestroy() with live Python Call objects asserts; exit hard instead.
        os._exit(0)


def without_telephone_event(sdp: str) -> str:
    """The SDP with every telephone-event payload type removed from its m= lines and attributes."""
    lines = sdp.replace("\r\n", "\n").split("\n")
    events = {
        line.split(":", 1)[1].split()[0]
        for line in lines
        if line.startswith("a=rtpmap:") and "telephone-event/" in line.lower()
    }
    out = []
    for line in lines:
        if line.startswith("m="):
            line = " ".join(f for i, f in enumerate(line.split(" ")) if i < 3 or f not in events)
        elif line.startswith(("a=rtpmap:", "a=fmtp:")) and line.split(":", 1)[1].split(" ")[0] in events:
            continue
        out.append(line)
    return "\r\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bind-ip", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="SIP port, 0 = pick a free one")
    p.add_argument("--transport", choices=("udp", "tcp", "tls"), default="udp")
    p.add_argument("--tls-ca", default="", help="CA file to verify the far end's certificate with")
    p.add_argument("--tls-cert", default="", help="our certificate (TLS server side: calls to us)")
    p.add_argument("--tls-key", default="", help="private key of --tls-cert")
    p.add_argument("--tls-verify", action="store_true", help="refuse a server whose certificate does not verify")
    p.add_argument(
        "--srtp",
        choices=("none", "optional", "mandatory"),
        default="none",
        help="mandatory: offer RTP/SAVP with SDES keys (RFC 4568)",
    )
    p.add_argument("--srtp-secure-signaling", type=int, default=1, choices=(0, 1, 2))
    p.add_argument("--codecs", default="PCMU,PCMA,G722", help="priority list; others disabled")
    p.add_argument("--clock-rate", type=int, default=16000, help="conference bridge/WAV rate")
    p.add_argument("--user", default="phone", help="user part of our SIP URI")
    p.add_argument("--display-name", default="")
    p.add_argument(
        "--id-uri", default="", help="our From URI when not registering, e.g. sip:anonymous@anonymous.invalid"
    )
    p.add_argument("--register", default="", help="registrar URI, e.g. sip:127.0.0.1:5060")
    p.add_argument("--password", default="")
    p.add_argument("--auth-user", default="", help="digest user name if not --user")
    p.add_argument("--domain", default="", help="domain of our AOR when registering")
    p.add_argument("--reg-expires", type=int, default=300)
    p.add_argument("--mwi", action="store_true", help="subscribe to message-waiting of USER@DOMAIN (needs --register)")
    p.add_argument("--mwi-expires", type=int, default=3600, help="Expires of the MWI subscription")
    p.add_argument("--proxy", default="", help="outbound proxy URI for the account")
    p.add_argument("--auto-answer", choices=("200", "486", "603", "none"), default="200")
    p.add_argument("--answer-delay", type=float, default=0.0)
    p.add_argument(
        "--transfer", choices=("accept", "refuse"), default="accept", help="what to do with a REFER to our call"
    )
    p.add_argument("--record-dir", default="", help="record incoming calls here")
    p.add_argument("--play", default="", help="WAV to transmit into incoming calls")
    p.add_argument("--play-loop", action="store_true", help="loop --play")
    p.add_argument("--rtp-port-start", type=int, default=0, help="0 = random free range")
    p.add_argument("--rtp-port-range", type=int, default=100)
    p.add_argument("--user-agent", default="zentrale-test-phone")
    p.add_argument(
        "--no-telephone-event", action="store_true", help="SDP without telephone-event: DTMF only as in-band tones"
    )
    p.add_argument("--log-level", type=int, default=1, help="pjsua log level to stderr")
    p.add_argument("--log-file", default="")
    p.add_argument("--log-file-level", type=int, default=5)
    args = p.parse_args(argv)
    if args.play and not Path(args.play).is_file():
        p.error(f"--play: no such audio file: {args.play}")
    if args.rtp_port_start == 0:
        # pjsua's default 4000 would collide between parallel phones/test
        # runs; pick a random even start in the unprivileged range instead.
        args.rtp_port_start = 20000 + 2 * (int.from_bytes(os.urandom(2), "big") % 10000)
    return args


def main() -> None:
    events = EventWriter(_claim_stdout())
    args = parse_args()
    phone = Phone(args, events)
    # Every way out ends in os._exit: a normal interpreter exit would run
    # libDestroy() from the Endpoint's destructor (TESTING-NOTES).
    try:
        phone.start()
    except BaseException as err:  # report why, then exit non-zero
        events.emit("error", cmd="start", message=_pj_error_text(err))
        events.emit("stopped")
        os._exit(2)
    try:
        phone.run()  # ends with os._exit(0)
    except BaseException as err:
        events.emit("error", cmd="run", message=_pj_error_text(err))
        events.emit("stopped")
    os._exit(3)


if __name__ == "__main__":
    main()
