"""The outbox against a real SMTP server (aiosmtpd), in-process: retries, permanent
failures, refused recipients, TLS, MP3 trouble, "send again". The daemon and a
real caller are in ``test_mail_call.py``.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.harness.daemon import free_port
from tests.harness.smtp_server import make_test_certificate, server_tls, smtp_server
from tests.harness.waits import until
from zentrale.clock import SystemClock
from zentrale.config import Config, parse_config
from zentrale.errors import Conflict
from zentrale.mail import compose as compose_module
from zentrale.mail.mp3 import Mp3Error
from zentrale.mail.outbox import MailOutbox
from zentrale.media.recorder import wav_header
from zentrale.store.db import Database
from zentrale.store.messages import MessageMeta, MessageRepository
from zentrale.store.outbox import OutboxRepository
from zentrale.teams import TeamDirectory


def tone_pcm(seconds: float, rate: int = 8000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (0.25 * 32767 * np.sin(2 * np.pi * 600 * t)).astype("<i2").tobytes()


@dataclass
class World:
    config: Config
    db: Database
    messages: MessageRepository
    outbox: OutboxRepository
    mail: MailOutbox
    serial: int = 0

    async def leave_message(self, team: str | None = "sap", email: list[str] | None = None) -> str:
        """Store a message the way a call does: spool file, then the atomic commit."""
        self.serial += 1
        meta = MessageMeta(
            id=f"20260105-090700-{self.serial:06d}",
            created_at="2026-01-05T08:07:00+00:00",
            caller="+49 30 1234567",
            caller_name=None,
            called="100",
            team=team,
            mode="Hotline",
            node="voicemail_sap",
            rate=8000,
            email=email,
        )
        pcm = tone_pcm(2.0)
        self.messages.begin(meta).write_bytes(wav_header(len(pcm), 8000) + pcm)
        await self.messages.commit(meta, 2000)
        return meta.id

    async def status(self, message_id: str) -> dict[str, Any]:
        return (await self.mail.with_status([await self.messages.get(message_id)]))[0]["mail"]  # type: ignore[no-any-return]

    async def wait_state(self, message_id: str, states: set[str], timeout: float = 15) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            status = await self.status(message_id)
            return status if status and status["state"] in states else None

        return await until(reached, timeout, f"message {message_id} to reach {states}", poll=0.05)


@pytest.fixture
async def make_world(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    worlds: list[World] = []

    async def make(**mail: Any) -> World:
        settings = {"host": "127.0.0.1", "sender": "hotline@example.com", "security": "none", "retry_first": 0.3}
        settings.update(retry_max=1.0, timeout=5, viewer_url="http://zentrale.test:8080")
        settings.update(mail)
        doc = {
            "data_dir": str(tmp_path),
            "teams": [{"id": "sap", "name": "SAP", "email": ["sap@example.com", "chef@example.com"]}],
            "mail": settings,
        }
        config = parse_config(yaml.safe_dump(doc), "test")
        db = Database(tmp_path / "zentrale.db")
        await db.open()
        messages = MessageRepository(db, tmp_path)
        messages.prepare()
        outbox = OutboxRepository(db)
        mail_outbox = MailOutbox(
            config=config, teams=TeamDirectory(config.teams), clock=SystemClock(), outbox=outbox, messages=messages
        )
        await mail_outbox.start()
        world = World(config, db, messages, outbox, mail_outbox)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        await world.mail.stop()
        await world.db.close()


@pytest.fixture
def port() -> int:
    return free_port(socket.SOCK_STREAM)


async def test_a_stored_message_is_mailed_once_with_its_status_visible(make_world: Any, port: int) -> None:
    with smtp_server(port) as server:
        world = await make_world(port=port)
        message_id = await world.leave_message()
        status = await world.wait_state(message_id, {"sent"})
        await asyncio.sleep(0.5)
        assert len(server.received) == 1
    got = server.received[0]
    assert got.rcpt_tos == ["sap@example.com", "chef@example.com"]
    assert got.message["Subject"] == "Neue Nachricht für SAP von +49 30 1234567 (0:02)"
    assert status["attempts"] == 1
    assert status["attached"] is True
    assert status["error"] is None
    assert status["sent_at"] >= status["queued_at"]
    assert (world.messages.folder / f"{message_id}.mp3").is_file()


async def test_a_temporary_4xx_is_retried_and_then_delivered_once(make_world: Any, port: int) -> None:
    with smtp_server(port, rcpt_answer={"sap@example.com": "451 4.3.0 Try again later"}) as server:
        world = await make_world(port=port)
        message_id = await world.leave_message(email=["sap@example.com"])
        status = await world.wait_state(message_id, {"queued"})
        deadline = time.monotonic() + 5
        while (status["attempts"] < 2 or status["state"] != "queued") and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            status = await world.status(message_id)
        assert status["attempts"] >= 2
        assert "451 4.3.0 Try again later" in status["error"]
        assert status["next_attempt_at"] is not None
        server.handler.rcpt_answer.clear()  # the server recovers
        status = await world.wait_state(message_id, {"sent"})
        await asyncio.sleep(1.5)  # longer than retry_max: no second copy comes
        assert len(server.received) == 1
        assert status["error"] is None


async def test_a_refused_recipient_is_shown_and_the_others_get_the_mail(make_world: Any, port: int) -> None:
    with smtp_server(port, rcpt_answer={"chef@example.com": "550 5.1.1 User unknown"}) as server:
        world = await make_world(port=port)
        message_id = await world.leave_message()
        status = await world.wait_state(message_id, {"sent"})
    assert server.received[0].rcpt_tos == ["sap@example.com"]
    assert status["refused"] == {"chef@example.com": "550 5.1.1 User unknown"}


async def test_all_recipients_unknown_is_permanent_and_send_again_to_others_works(make_world: Any, port: int) -> None:
    unknown = {"sap@example.com": "550 5.1.1 User unknown", "chef@example.com": "550 5.1.1 User unknown"}
    with smtp_server(port, rcpt_answer=unknown) as server:
        world = await make_world(port=port)
        message_id = await world.leave_message()
        failed = await world.wait_state(message_id, {"failed"})
        assert failed["attempts"] == 1
        assert failed["error"].startswith("all recipients refused: sap@example.com: 550 5.1.1 User unknown")
        assert await world.messages.get(message_id)  # the message stays
        again = await world.mail.send_again(message_id, ["it@example.com"])
        assert again["state"] in ("queued", "sending", "sent")
        sent = await world.wait_state(message_id, {"sent"})
    assert [r.rcpt_tos for r in server.received] == [["it@example.com"]]
    assert sent["attempts"] == 2
    # a new round has a new Message-ID, so the resend is not taken for a duplicate
    assert server.received[0].message["Message-ID"] == f"<{message_id}.2@example.com>"


async def test_a_team_without_a_list_queues_nothing(make_world: Any, port: int) -> None:
    world = await make_world(port=port)
    message_id = await world.leave_message(team="lvs")
    assert await world.status(message_id) is None
    with pytest.raises(Conflict, match="no recipients"):
        await world.mail.send_again(message_id)


async def test_an_mp3_failure_still_sends_the_link_and_shows_why(
    make_world: Any, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise Mp3Error("MP3 encoder failed: test fault")

    monkeypatch.setattr(compose_module, "encode_wav", broken)
    with smtp_server(port) as server:
        world = await make_world(port=port)
        message_id = await world.leave_message()
        status = await world.wait_state(message_id, {"sent"})
    assert status["mp3_error"] == "MP3 encoder failed: test fault"
    assert status["attached"] is False
    mail = server.received[0].message
    assert list(mail.iter_attachments()) == []
    text = mail.get_body(("plain",))
    assert text is not None
    assert "Die MP3-Datei konnte nicht erstellt werden (MP3 encoder failed: test fault)" in text.get_content()
    assert f"http://zentrale.test:8080/#/messages/{message_id}" in text.get_content()
    row = await world.messages.get(message_id)
    assert world.messages.file(row).is_file()  # the WAV stays


async def test_disk_full_while_keeping_the_mp3_is_visible_and_the_mail_still_goes(
    make_world: Any, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".mp3.tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(compose_module.os, "fsync", fsync)
    with smtp_server(port) as server:
        world = await make_world(port=port)
        message_id = await world.leave_message()
        status = await world.wait_state(message_id, {"sent"})
    assert status["mp3_error"] == "MP3 not saved on the appliance: No space left on device (sent from memory)"
    assert status["attached"] is True
    assert len(list(server.received[0].message.iter_attachments())) == 1
    assert not list(world.messages.folder.glob("*.mp3*"))


async def test_implicit_tls_with_a_trusted_test_certificate(make_world: Any, port: int, tmp_path: Path) -> None:
    cert, key = make_test_certificate(tmp_path)
    with smtp_server(port, implicit_tls=server_tls(cert, key)) as server:
        world = await make_world(port=port, security="tls", ca_file=str(cert))
        message_id = await world.wait_state(await world.leave_message(), {"sent"})
    assert message_id["state"] == "sent"
    assert len(server.received) == 1


async def test_an_untrusted_certificate_is_a_permanent_failure(make_world: Any, port: int, tmp_path: Path) -> None:
    cert, key = make_test_certificate(tmp_path)
    with smtp_server(port, starttls=server_tls(cert, key)) as server:
        world = await make_world(port=port, security="starttls")  # the system CAs do not know our test CA
        status = await world.wait_state(await world.leave_message(), {"failed"})
    assert status["error"].startswith("the server's TLS certificate is not trusted:")
    assert server.received == []


async def test_the_outbox_row_is_part_of_the_message_transaction(make_world: Any, port: int) -> None:
    world = await make_world(port=port)
    await world.mail.stop()  # nothing is sent: look at the rows only
    message_id = await world.leave_message()
    rows = await world.db.fetch("SELECT message_id, state, recipients FROM mail_outbox")
    assert rows == [
        {"message_id": message_id, "state": "queued", "recipients": json.dumps(["sap@example.com", "chef@example.com"])}
    ]


async def test_a_server_that_never_comes_back_is_given_up_visibly_after_give_up_hours(
    make_world: Any, port: int
) -> None:
    world = await make_world(port=port, give_up_hours=0.0005)  # 1.8 s; no server listens on the port
    message_id = await world.leave_message()
    status = await world.wait_state(message_id, {"failed"}, timeout=15)
    assert status["error"].startswith(f"gave up after {status['attempts']} attempts in 0.0005 h; last: no connection")
    assert status["attempts"] >= 2
    assert await world.messages.get(message_id)
