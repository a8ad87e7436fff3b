"""pjsua2 subclasses that turn library callbacks into phone events.

Part of ``pjsua_phone.py`` (imported from the script's own folder). The
subclasses only forward to the phone (``CallbackSink``). With
``mainThreadOnly`` pjsua2 delivers call, account and DTMF callbacks on the
main thread, but a player's end-of-file still arrives on the conference clock
thread, so that one does nothing but emit an event.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import pjsua2 as pj

# pjsua2-python on x86_64 refuses the 5th simultaneous call with PJ_ETOOMANY
# whatever UaConfig.maxCalls says (shared/TESTING-NOTES.md). The phone checks
# first so a test gets a clear error instead of a half-created call.
MAX_CALLS = 4

STATE_NAMES = {
    pj.PJSIP_INV_STATE_NULL: "null",
    pj.PJSIP_INV_STATE_CALLING: "calling",
    pj.PJSIP_INV_STATE_INCOMING: "incoming",
    pj.PJSIP_INV_STATE_EARLY: "early",
    pj.PJSIP_INV_STATE_CONNECTING: "connecting",
    pj.PJSIP_INV_STATE_CONFIRMED: "confirmed",
    pj.PJSIP_INV_STATE_DISCONNECTED: "disconnected",
}
MEDIA_STATUS_NAMES = {
    pj.PJSUA_CALL_MEDIA_NONE: "none",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "active",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "local_hold",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "remote_hold",
    pj.PJSUA_CALL_MEDIA_ERROR: "error",
}
DTMF_METHODS = {
    "rfc2833": pj.PJSUA_DTMF_METHOD_RFC2833,
    "rfc4733": pj.PJSUA_DTMF_METHOD_RFC2833,
    "info": pj.PJSUA_DTMF_METHOD_SIP_INFO,
}
DTMF_METHOD_NAMES = {
    pj.PJSUA_DTMF_METHOD_RFC2833: "rfc2833",
    pj.PJSUA_DTMF_METHOD_SIP_INFO: "info",
}


class EventWriter:
    """Writes JSON event lines to the private copy of the original stdout.

    The player end-of-file callback runs on pjsua's clock thread (not covered by
    mainThreadOnly), so writes are serialised by a lock; one os.write per line keeps
    each line whole.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self.reader_gone = False

    def emit(self, event: str, **fields: Any) -> None:
        record = {"event": event, "t": time.monotonic(), **fields}
        line = (json.dumps(record, default=str) + "\n").encode()
        with self._lock:
            if self.reader_gone:
                return
            try:
                os.write(self._fd, line)
            except OSError:
                # EPIPE: the controlling test died. Raising here would unwind
                # into Python's normal exit, i.e. libDestroy() (seconds, and
                # asserts with live Calls); the main loop quits instead.
                self.reader_gone = True


class CallbackSink(Protocol):
    """What the subclasses need from the phone that owns them."""

    events: EventWriter

    def guarded(self, where: str, call_id: int | None, fn: Callable[..., None], *args: Any) -> None: ...

    def on_call_state(self, call: PhoneCall) -> None: ...

    def on_call_media_state(self, call: PhoneCall) -> None: ...

    def on_call_sdp_created(self, call: PhoneCall, prm: Any) -> None: ...

    def on_incoming_call(self, account: PhoneAccount, prm: Any) -> None: ...

    def on_transfer_request(self, call: PhoneCall, prm: Any) -> None: ...


class PhoneCall(pj.Call):  # type: ignore[misc]
    """pjsua2 Call that forwards every callback to the owning Phone."""

    def __init__(self, phone: CallbackSink, account: pj.Account, call_id: int = pj.PJSUA_INVALID_ID):
        super().__init__(account, call_id)
        self.phone = phone
        self.slot_id = -1

    def onCallState(self, prm: Any) -> None:
        self.phone.guarded("call state", self.slot_id, self.phone.on_call_state, self)

    def onCallMediaState(self, prm: Any) -> None:
        self.phone.guarded("media state", self.slot_id, self.phone.on_call_media_state, self)

    def onCallSdpCreated(self, prm: Any) -> None:
        self.phone.guarded("sdp created", self.slot_id, self.phone.on_call_sdp_created, self, prm)

    def onCallTransferRequest(self, prm: Any) -> None:
        # A REFER to this call (we are the transferee): the phone accepts or refuses it.
        self.phone.guarded("transfer request", self.slot_id, self.phone.on_transfer_request, self, prm)

    def onDtmfDigit(self, prm: Any) -> None:
        # RFC 2833 and SIP INFO digits both arrive here (method tells which).
        self.phone.events.emit(
            "dtmf_received",
            call=self.slot_id,
            digit=prm.digit,
            method=DTMF_METHOD_NAMES.get(prm.method, str(prm.method)),
            # pjsua reports an unknown duration as (unsigned) -1.
            duration_ms=prm.duration if prm.duration < 0x7FFFFFFF else None,
        )


class PhoneAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, phone: CallbackSink) -> None:
        super().__init__()
        self.phone = phone

    def onIncomingCall(self, prm: Any) -> None:
        self.phone.guarded("incoming call", None, self.phone.on_incoming_call, self, prm)

    def onMwiInfo(self, prm: Any) -> None:
        # a message-summary NOTIFY (RFC 3842): the lamp's state and the body as the box sent it
        body = prm.rdata.wholeMsg.split("\r\n\r\n", 1)[-1]
        waiting = next((ln.split(":", 1)[1].strip().lower() for ln in body.splitlines()
                        if ln.lower().startswith("messages-waiting:")), "")  # fmt: skip
        self.phone.events.emit("mwi", state=int(prm.state), waiting=waiting, body=body,
                               subscription_state=_header(prm.rdata.wholeMsg, "Subscription-State"))  # fmt: skip

    def onRegState(self, prm: Any) -> None:
        self.phone.events.emit(
            "registered",
            code=prm.code,
            reason=prm.reason,
            expiration=prm.expiration,
            ok=prm.code // 100 == 2 and prm.expiration > 0,
        )


def _header(message: str, name: str) -> str:
    for line in message.split("\r\n\r\n", 1)[0].splitlines():
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return ""


class FilePlayer(pj.AudioMediaPlayer):  # type: ignore[misc]
    """File player that reports the end of a non-looping file."""

    def __init__(self, phone: CallbackSink, slot_id: int, path: str, loop: bool) -> None:
        super().__init__()
        self.phone = phone
        self.slot_id = slot_id
        self.path = path
        self.loop = loop

    def onEof2(self) -> None:
        # Runs on the conference clock thread: emit only. A looping player
        # calls this at every wrap; only the end of a one-shot file is news.
        if not self.loop:
            self.phone.events.emit("play_done", call=self.slot_id, path=self.path)
