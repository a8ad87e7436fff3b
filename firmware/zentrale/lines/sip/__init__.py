"""The SIP line: UDP/TCP transport, a strict parser, transactions, dialogs,
SDP offer/answer and RTP driven by the one media clock.

Only this package speaks SIP; the rest of Zentrale sees ``Line`` and ``Call``.
"""
