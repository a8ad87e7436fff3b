"""Session timer negotiation (RFC 4028), the dialog state machine and SDP checked at the edge."""

from __future__ import annotations

import pytest

from tests.harness.sip_messages import request
from zentrale.lines.sip import session_timer as st
from zentrale.lines.sip.dialog import GUARDS, TABLE, Dialog, DialogError, DialogEvent, DialogState
from zentrale.lines.sip.message import SipResponse
from zentrale.lines.sip.sdp import SdpError, negotiate, parse_sdp


def sdp(port: str = "4000", conn: str = "IN IP4 127.0.0.9", extra: str = "") -> str:
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\n"
        f"c={conn}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n" + extra
    )


# --- session timers ------------------------------------------------------------------------


def test_an_invite_asking_for_120_s_without_refresher_gets_the_uac_as_refresher() -> None:
    req = request(extra="Supported: timer\r\nSession-Expires: 120\r\n")
    timer = st.answer_request(req, preferred=1800, minimum=90)
    assert timer == st.SessionTimer(120, "uac", we_refresh=False)
    assert st.answer_headers(timer, req) == [("Session-Expires", "120;refresher=uac"), ("Require", "timer")]
    assert timer.expire_after == 120 - 32


def test_too_brief_an_interval_is_refused_with_our_min_se() -> None:
    req = request(extra="Supported: timer\r\nSession-Expires: 60\r\n")
    assert st.answer_request(req, preferred=1800, minimum=90) == st.TooBrief(90)


def test_a_session_expires_inserted_by_a_proxy_for_a_phone_without_timers_makes_us_the_refresher() -> None:
    req = request(extra="Session-Expires: 600;refresher=uac\r\n")  # no Supported: timer
    timer = st.answer_request(req, preferred=1800, minimum=90)
    assert timer == st.SessionTimer(600, "uas", we_refresh=True)
    assert timer.refresh_after == 300
    assert st.answer_headers(timer, req) == [("Session-Expires", "600;refresher=uas")]


def test_no_session_timer_is_imposed_on_a_phone_that_did_not_ask() -> None:
    assert st.answer_request(request(), preferred=1800, minimum=90) is None


def test_the_uas_may_lower_the_interval_but_never_below_min_se() -> None:
    req = request(extra="Supported: timer\r\nSession-Expires: 7200\r\nMin-SE: 2000\r\n")
    assert st.answer_request(req, preferred=1800, minimum=90) == st.SessionTimer(2000, "uac", we_refresh=False)


def test_as_uac_the_answer_decides_who_refreshes() -> None:
    ok = SipResponse(status=200, reason="OK")
    assert st.from_answer(ok) is None
    ok.add("Session-Expires", "900;refresher=uac")
    assert st.from_answer(ok) == st.SessionTimer(900, "uac", we_refresh=True)
    ok.set("Session-Expires", "900;refresher=uas")
    assert st.from_answer(ok) == st.SessionTimer(900, "uas", we_refresh=False)


def test_a_refresh_names_the_refresher_in_its_own_transaction_roles() -> None:
    current = st.SessionTimer(120, "uac", we_refresh=False)  # an incoming call, the caller refreshes
    refresh = request("UPDATE", extra="Session-Expires: 120;refresher=uac\r\n")
    after = st.refreshed_by_peer(refresh, current, incoming=True)
    assert after == current
    assert after.header(we_are_uac=False) == "120;refresher=uac"  # our 200 to their UPDATE
    handed = st.refreshed_by_peer(request("UPDATE", extra="Session-Expires: 120;refresher=uas\r\n"), current,
                                  incoming=True)  # fmt: skip
    assert handed.we_refresh and handed.header(we_are_uac=True) == "120;refresher=uac"


# --- dialog -----------------------------------------------------------------------------------


def test_every_dialog_state_but_ended_has_a_guard_and_a_way_to_end() -> None:
    states = set(DialogState) - {DialogState.ENDED}
    assert set(GUARDS) == states
    for state in states:
        assert TABLE[(state, DialogEvent.END)] is DialogState.ENDED


def test_an_incoming_dialog_goes_offered_answered_confirmed_ended() -> None:
    dialog = Dialog("c1", "l1", incoming=True)
    assert dialog.state is DialogState.OFFERED
    dialog.fire(DialogEvent.ANSWER)
    assert dialog.up and dialog.state is DialogState.ANSWERED
    dialog.fire(DialogEvent.ACK)
    dialog.fire(DialogEvent.END)
    assert dialog.ended
    with pytest.raises(DialogError):
        dialog.fire(DialogEvent.ANSWER)
    assert Dialog("c2", "l2", incoming=False).state is DialogState.CALLING


def test_cseq_must_grow_but_ack_and_cancel_reuse_theirs() -> None:
    dialog = Dialog("c1", "l1", incoming=True, remote_cseq=5)
    assert not dialog.accept_remote_cseq(5, "BYE")
    assert dialog.accept_remote_cseq(5, "ACK")
    assert dialog.accept_remote_cseq(6, "BYE") and dialog.remote_cseq == 6


# --- SDP at the edge --------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["70000", "-1", "99999999999", "4a"])
def test_an_audio_port_outside_0_65535_is_refused(port: str) -> None:
    with pytest.raises(SdpError):
        parse_sdp(sdp(port=port))


@pytest.mark.parametrize(
    "conn", ["IN IP4 127.0.0.\x001", "IN IP4 pbx.example.com", "IN IP4 ::1", "IN IP6 127.0.0.1", "IN IP4"]
)
def test_a_connection_address_must_be_an_ip_literal_of_its_type(conn: str) -> None:
    with pytest.raises(SdpError):
        parse_sdp(sdp(conn=conn))


def test_too_many_media_lines_or_too_long_attributes_are_refused() -> None:
    with pytest.raises(SdpError):
        parse_sdp(sdp(extra="m=video 0 RTP/AVP 31\r\n" * 9))
    with pytest.raises(SdpError):
        parse_sdp(sdp(extra="a=x-long:" + "y" * 2000 + "\r\n"))
    with pytest.raises(SdpError):
        parse_sdp(sdp() + "a=x\r\n" * 300)


def test_a_valid_offer_negotiates_pcmu_with_its_telephone_event_type() -> None:
    index, neg = negotiate(parse_sdp(sdp()), ["PCMU"])
    assert index == 0 and neg.remote_port == 4000 and neg.dtmf_payload_type == 101
    assert negotiate(parse_sdp(sdp(conn="IN IP6 ::1")), ["PCMU"])[1].remote_host == "::1"
