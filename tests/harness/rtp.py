"""What RTP unit tests share: the negotiated media of a call to a plain UDP peer."""

from __future__ import annotations

from zentrale.lines.sip.sdp import Negotiated
from zentrale.media.codecs import CODECS


def negotiated(port: int, host: str = "127.0.0.1", dtmf: int | None = 101, codec: str = "PCMU") -> Negotiated:
    info = CODECS[codec]
    return Negotiated(info, info.payload_type, dtmf, host, port, "sendrecv")
