"""SIP over TLS with SRTP: a pjsua2 caller over TLS offering RTP/SAVP (SDES)
hears the box's prompt and leaves a message with its tone (audio both ways,
encrypted); toward an agent on a sips: URI and toward a registrar over TLS
the box verifies the certificate."""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.audio import PROMPTS, heard, make_tone_wav, prompt_seconds, read_wav, tone_level
from tests.harness.daemon import Daemon, free_port, running_daemon
from tests.harness.modes import fast_mode
from tests.harness.peers.phone import Phone
from tests.harness.tls_certs import Leaf, make_ca, make_leaf
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers
TEAMS = [
    {"id": team, "name": team.upper(), "distribution": "pull", "ring_timeout": 6, "wrap_up": 0}
    for team in ("lvs", "sap", "pc")
]


@dataclass
class Pki:
    ca: Path
    box: Leaf
    agent: Leaf
    rogue: Leaf  # signed by a CA the box does not know
    rogue_ca: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = make_ca(folder)
    rogue_ca = make_ca(folder, "rogue-ca")
    return Pki(
        ca, make_leaf(folder, ca, "box"), make_leaf(folder, ca, "agent"), make_leaf(folder, rogue_ca, "rogue"), rogue_ca
    )


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Daemon]:
    mode = fast_mode()
    mode["nodes"]["queue_lvs"]["hold"] = [{"announcement": "hold_notice"}, {"music": "music_a", "seconds": 60}]
    tls = {"port": free_port(), "certificate": str(pki.box.cert), "key": str(pki.box.key), "ca_file": str(pki.ca)}
    config = {"sip": {"tls": tls}, "teams": TEAMS}
    with running_daemon(tmp_path_factory.mktemp("tls"), mode=mode, config=config) as d:
        yield d


def tls_uri(daemon: Daemon) -> str:
    return f"sips:100@127.0.0.1:{daemon.status()['lines'][0]['tls_port']}"


def test_a_tls_caller_with_srtp_hears_the_prompt_and_its_voice_reaches_the_message(
    daemon: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path, pki: Pki
) -> None:
    tone = tmp_path / "tone.wav"
    make_tone_wav(tone, 700, 3.0, rate=8000, level_dbfs=-12)
    caller = sip_phones(name="tls-caller", transport="tls", tls_ca=str(pki.ca), tls_verify=True, srtp="mandatory",
                        codecs="PCMA")  # fmt: skip
    rx = tmp_path / "rx.wav"
    call = caller.call(tls_uri(daemon), record=rx)
    caller.wait_event("media_active", call=call, timeout=5)
    info = wait_until(lambda: daemon.http.get("/api/calls").json(), 5, "the call")[0]
    assert info["transport"] == "tls" and info["srtp"] is True, info
    time.sleep(prompt_seconds("greeting") + 1.0)
    caller.dtmf(call, "1")  # the digit travels in SRTP too (RFC 4733 events)
    wait_until(lambda: daemon.http.get("/api/queues", params={"team": "lvs"}).json(), 5, "queue lvs")
    time.sleep(2.0)
    caller.hangup(call)
    caller.wait_event("recording_done", call=call, timeout=5)
    x, rate = read_wav(rx)
    assert heard(x, rate, 0.0, PROMPTS / "greeting.wav") > 0.6  # box -> caller, decrypted by the caller

    # caller -> box: straight to the message, the caller's tone is in it
    vm_mode = fast_mode()
    vm_mode["start"] = "voicemail_lvs"
    vm_mode["nodes"]["voicemail_lvs"]["prompt"] = "goodbye"
    vm_mode["nodes"]["voicemail_lvs"]["silence_seconds"] = 2
    daemon.http.put("/api/modes/hotline", json=vm_mode)
    call = caller.call(tls_uri(daemon))
    caller.wait_event("media_active", call=call, timeout=5)
    time.sleep(prompt_seconds("goodbye") + 0.8)
    caller.play(call, tone)
    time.sleep(3.0)
    caller.play(call, None)
    caller.wait_event("disconnected", call=call, timeout=15)
    message = wait_until(lambda: daemon.http.get("/api/messages").json(), 5, "the message")[0]
    wav = tmp_path / "m.wav"
    wav.write_bytes(daemon.http.get(f"/api/messages/{message['id']}/audio").content)
    y, yrate = read_wav(wav)
    assert tone_level(y, yrate, 700) > 0.6


def test_toward_a_sips_agent_the_box_verifies_the_certificate_and_speaks_srtp(
    daemon: Daemon, sip_phones: Callable[..., Phone], pki: Pki, tmp_path: Path
) -> None:
    """The trusted agent's phone accepts only SRTP (pjsua2 --srtp mandatory): answering at
    all proves the box offered RTP/SAVP; the caller's tone reaches it through SRTP."""
    tone = tmp_path / "tone.wav"
    make_tone_wav(tone, 600, 20, rate=8000, level_dbfs=-12)
    mode = fast_mode()
    mode["nodes"]["queue_lvs"]["hold"] = [{"announcement": "hold_notice"}, {"music": "music_a", "seconds": 60}]
    daemon.http.put("/api/modes/hotline", json=mode)
    daemon.http.put("/api/agents/tina", json={"name": "Tina", "teams": ["lvs"]})
    results = {}
    for name, leaf in (("trusted", pki.agent), ("rogue", pki.rogue)):
        agent = sip_phones(name=f"agent-{name}", transport="tls", tls_cert=str(leaf.cert), tls_key=str(leaf.key),
                           auto_answer="200", srtp="mandatory", record_dir=tmp_path)  # fmt: skip
        r = daemon.http.post("/api/agents/tina/login", json={"number": f"sips:tina@127.0.0.1:{agent.sip_port}"})
        assert r.status_code == 200, r.text
        caller = sip_phones(name=f"caller-{name}")
        call = caller.call(daemon.uri)
        caller.wait_event("media_active", call=call, timeout=5)
        time.sleep(prompt_seconds("greeting") + 1.0)
        caller.dtmf(call, "1")
        caller.play(call, tone, loop=True)
        entry = wait_until(lambda: daemon.http.get("/api/queues", params={"team": "lvs"}).json(), 5, "queue")[0]
        r = daemon.http.post(f"/api/queues/{entry['entry_id']}/pull", json={"agent": "tina", "wait": True},
                             timeout=30)  # fmt: skip
        result = r.json().get("result")
        # answered: the phone's own report of the call may come after the box's answer
        rang = (
            bool(agent.wait_event("incoming", timeout=5))
            if result == "answered"
            else bool(agent.find_events("incoming"))
        )
        results[name] = (result, rang)
        if name == "trusted":  # the dialog runs on over TLS: our ACK confirms it, our BYE ends it
            agent.wait_event("state", state="confirmed", timeout=5)
            time.sleep(2.5)
        caller.hangup(call)
        if name == "trusted":
            gone = agent.wait_event("disconnected", timeout=5)
            rx = agent.wait_event("recording_done", call=gone["call"], timeout=5)["path"]
            y, rate = read_wav(Path(rx))
            assert tone_level(y[-int(1.5 * rate) :], rate, 600) > 0.5  # the caller's voice, decrypted by the agent
        daemon.http.post("/api/agents/tina/logout")
        agent.stop()
    assert results["trusted"] == ("answered", True), results
    assert results["rogue"][1] is False, results  # no INVITE ever reached the impostor
    assert results["rogue"][0] != "answered"
    assert "certificate verify failed" in daemon.log()


class TlsRegistrar:
    """A minimal registrar on TLS: answers every REGISTER with 200 OK."""

    def __init__(self, leaf: Leaf, host: str) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(leaf.cert), str(leaf.key))
        self.listener = socket.create_server((host, 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.ctx = ctx
        self.registers: list[str] = []
        self.handshake_errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self.listener.accept()
            except TimeoutError:
                continue
            try:
                conn = self.ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError) as err:
                self.handshake_errors.append(str(err))
                raw.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: ssl.SSLSocket) -> None:
        with conn:
            self._converse(conn)

    def _converse(self, conn: ssl.SSLSocket) -> None:
        conn.settimeout(0.5)
        buf = b""
        while not self._stop.is_set():
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\r\n\r\n" in buf:
                head, buf = buf.split(b"\r\n\r\n", 1)  # our box sends REGISTER without a body
                text = head.decode()
                self.registers.append(text)
                keep = [line for line in text.split("\r\n")[1:] if line.split(":")[0].lower() in
                        ("via", "from", "to", "call-id", "cseq", "contact")]  # fmt: skip
                keep = [line + ";tag=reg" if line.lower().startswith("to:") else line for line in keep]
                conn.sendall(("\r\n".join(["SIP/2.0 200 OK", *keep, "Content-Length: 0"]) + "\r\n\r\n").encode())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.listener.close()


@pytest.mark.parametrize("trusted", [True, False])
def test_registration_over_tls_verifies_the_registrars_certificate_and_the_pbx_is_never_banned(
    tmp_path: Path, pki: Pki, trusted: bool
) -> None:
    host = "127.0.0.8"
    leaf = make_leaf(tmp_path, pki.ca if trusted else pki.rogue_ca, "pbx", ip=host)
    pbx = TlsRegistrar(leaf, host)
    tls = {"port": free_port(), "certificate": str(pki.box.cert), "key": str(pki.box.key), "ca_file": str(pki.ca)}
    registration = {"registrar": f"{host}:{pbx.port}", "user": "620", "password": "x", "transport": "tls"}
    config = {"sip": {"tls": tls, "registration": registration, "security": {"max_failures": 3}}, "teams": TEAMS}
    try:
        with running_daemon(tmp_path / "box", config=config) as box:
            if not trusted:
                reg = wait_until(lambda: box.status()["lines"][0]["registration"]["last_error"], 10, "an error")
                assert "certificate verify failed" in str(reg)
                assert pbx.registers == []  # not one REGISTER went to the impostor
                return
            wait_until(lambda: box.status()["lines"][0]["registration"]["registered"], 10, "registration")
            assert pbx.registers[0].startswith(f"REGISTER sips:{host}:{pbx.port} SIP/2.0")
            assert "Via: SIP/2.0/TLS" in pbx.registers[0] and "<sips:620@" in pbx.registers[0]
            # garbage from the PBX's address never gets it banned
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((host, 0))
                for _ in range(50):
                    s.sendto(b"GARBAGE / SIP/2.0\r\n\r\n", ("127.0.0.1", box.sip_port))
            time.sleep(0.5)
            assert box.http.get("/api/security/bans").json()["bans"] == []
    finally:
        pbx.close()


def test_failed_tls_handshakes_ban_the_source_and_a_banned_source_gets_no_handshake(daemon: Daemon, pki: Pki) -> None:
    port = daemon.status()["lines"][0]["tls_port"]
    source = "127.0.0.12"
    for _ in range(10):  # max_failures of the default configuration
        with socket.create_connection(("127.0.0.1", port), source_address=(source, 0), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")  # not TLS
            s.recv(1024)
    ban = {b["address"]: b for b in daemon.http.get("/api/security/bans").json()["bans"]}[source]
    assert "TLS handshake failed" in str(ban["reason"])
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    with (
        socket.create_connection(("127.0.0.1", port), source_address=(source, 0), timeout=5) as s,
        pytest.raises((ssl.SSLError, ConnectionError)),
    ):
        ctx.wrap_socket(s, server_hostname="127.0.0.1")  # closed before any certificate is shown
    daemon.http.delete(f"/api/security/bans/{source}")


def test_a_sips_agent_phone_without_srtp_is_never_sent_plain_audio(
    daemon: Daemon, sip_phones: Callable[..., Phone], pki: Pki
) -> None:
    """Over TLS the box offers SRTP only: a phone that cannot do SRTP refuses (488), the
    pull fails and the caller keeps waiting; no plain-RTP fall-back."""
    daemon.http.put("/api/agents/tom", json={"name": "Tom", "teams": ["lvs"]})
    agent = sip_phones(name="agent-plain", transport="tls", tls_cert=str(pki.agent.cert), tls_key=str(pki.agent.key),
                       auto_answer="200", srtp="none")  # fmt: skip
    assert daemon.http.post("/api/agents/tom/login", json={"number": f"sips:tom@127.0.0.1:{agent.sip_port}"}).is_success
    caller = sip_phones(name="caller-plain")
    call = caller.call(daemon.uri)
    caller.wait_event("media_active", call=call, timeout=5)
    time.sleep(prompt_seconds("greeting") + 1.0)
    caller.dtmf(call, "1")
    entry = wait_until(lambda: daemon.http.get("/api/queues", params={"team": "lvs"}).json(), 5, "queue")[0]
    r = daemon.http.post(f"/api/queues/{entry['entry_id']}/pull", json={"agent": "tom", "wait": True}, timeout=30)
    # pjsua2 without SRTP refuses the RTP/SAVP offer before ringing: 488 Not Acceptable Here
    assert r.json()["result"] == "failed", r.json()
    assert not agent.find_events("incoming")
    assert re.search(r"agent tom did not take call \S+: failed \(488 ", daemon.log())
    assert [q["entry_id"] for q in daemon.http.get("/api/queues").json()] == [entry["entry_id"]]
    caller.hangup(call)
    daemon.http.post("/api/agents/tom/logout")
