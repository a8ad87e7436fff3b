"""A SIP dialog (RFC 3261 §12) as an explicit state machine, without I/O.

The dialog knows its identifiers, sequence numbers, route set and remote
target, builds in-dialog requests, and keeps its state in an enum whose
transitions are one table. Each state but ENDED has a guard timer that ends
it (``GUARDS``); ``call.py`` runs the timers and the sockets.

States and what ends each of them:

=========== ====================================== ==========================
state       meaning                                ended by
=========== ====================================== ==========================
OFFERED     an INVITE came in, not answered yet    answer, reject, CANCEL,
                                                   timer ``answer`` (500)
CALLING     our INVITE is out                      2xx, failure, ring timeout
ANSWERED    we sent 2xx, the ACK has not come      ACK, timer ``ack`` (BYE)
CONFIRMED   the call is up                         BYE, session timer expiry,
                                                   failed liveness probe,
                                                   no RTP, maximum duration
ENDED       over                                   --
=========== ====================================== ==========================
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from zentrale.lines.sip.message import SipRequest, new_branch


class DialogState(enum.Enum):
    OFFERED = "offered"
    CALLING = "calling"
    ANSWERED = "answered"
    CONFIRMED = "confirmed"
    ENDED = "ended"


class DialogEvent(enum.Enum):
    ANSWER = "we answer 2xx"
    ACK = "ACK received"
    ACCEPTED = "our INVITE got 2xx"
    END = "hang-up, rejection, cancel, failure or timeout"


class DialogError(RuntimeError):
    """An event the dialog does not allow in its state."""


TABLE: Mapping[tuple[DialogState, DialogEvent], DialogState] = {
    (DialogState.OFFERED, DialogEvent.ANSWER): DialogState.ANSWERED,
    (DialogState.OFFERED, DialogEvent.END): DialogState.ENDED,
    (DialogState.CALLING, DialogEvent.ACCEPTED): DialogState.CONFIRMED,
    (DialogState.CALLING, DialogEvent.END): DialogState.ENDED,
    (DialogState.ANSWERED, DialogEvent.ACK): DialogState.CONFIRMED,
    (DialogState.ANSWERED, DialogEvent.ANSWER): DialogState.ANSWERED,  # 2xx to a re-INVITE before the first ACK
    (DialogState.ANSWERED, DialogEvent.END): DialogState.ENDED,
    (DialogState.CONFIRMED, DialogEvent.ACK): DialogState.CONFIRMED,  # ACK to a re-INVITE's 2xx
    (DialogState.CONFIRMED, DialogEvent.ANSWER): DialogState.CONFIRMED,  # 2xx to a re-INVITE
    (DialogState.CONFIRMED, DialogEvent.ACCEPTED): DialogState.CONFIRMED,  # a retransmitted 2xx
    (DialogState.CONFIRMED, DialogEvent.END): DialogState.ENDED,
}

# The timer that ends each non-terminal state (see the module docstring).
GUARDS: Mapping[DialogState, str] = {
    DialogState.OFFERED: "answer",
    DialogState.CALLING: "ring",
    DialogState.ANSWERED: "ack",
    DialogState.CONFIRMED: "liveness",
}


@dataclass
class Dialog:
    """Identifiers and sequence numbers of one dialog, and its state."""

    call_id: str
    local_tag: str
    incoming: bool
    remote_tag: str = ""
    local_cseq: int = 1
    remote_cseq: int = -1
    local_header: str = ""  # our From (outgoing) / To (incoming) header value, with tag
    remote_header: str = ""
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    state: DialogState = DialogState.OFFERED

    def __post_init__(self) -> None:
        if not self.incoming and self.state is DialogState.OFFERED:
            self.state = DialogState.CALLING

    def fire(self, event: DialogEvent) -> DialogState:
        try:
            self.state = TABLE[(self.state, event)]
        except KeyError:
            raise DialogError(f"dialog {self.call_id}: {event.value} in state {self.state.value}") from None
        return self.state

    @property
    def ended(self) -> bool:
        return self.state is DialogState.ENDED

    @property
    def up(self) -> bool:
        """Answered (2xx sent or received): a BYE ends it."""
        return self.state in (DialogState.ANSWERED, DialogState.CONFIRMED)

    def accept_remote_cseq(self, cseq: int, method: str) -> bool:
        """A request's CSeq must grow (RFC 3261 §12.2.2); ACK and CANCEL reuse theirs."""
        if method in ("ACK", "CANCEL"):
            return True
        if cseq <= self.remote_cseq:
            return False
        self.remote_cseq = cseq
        return True

    def build_request(self, method: str, via: str, user_agent: str) -> SipRequest:
        """An in-dialog request (RFC 3261 §12.2.1.1); ``via`` is the top Via without branch."""
        req = SipRequest(method=method, uri=self.remote_target)
        req.add("Via", f"{via};branch={new_branch()};rport")
        for route in self.route_set:
            req.add("Route", route)
        req.add("Max-Forwards", "70")
        req.add("From", self.local_header)
        req.add("To", self.remote_header)
        req.add("Call-ID", self.call_id)
        if method != "ACK":
            self.local_cseq += 1
        req.add("CSeq", f"{self.local_cseq} {method}")
        req.add("User-Agent", user_agent)
        return req
