"""The appliance as an office PC sees it: the box in a network namespace of its own with a LAN
address (198.18.0.1, RFC 2544 test network, on a veth pair this test makes -- never the
machine's own interfaces), the web page on ports 80 and 443 as on the image, and chromium
on the "PC" side (198.18.0.2) trusting the box's local CA through a fresh NSS database
(certutil, as a person installing the CA does; no certificate errors ignored).

The office's path: plain HTTP leads to HTTPS, the CA comes over plain HTTP, the set-up page
takes the one-time token, and an agent whose page is in a background tab is told by a
browser Notification (a secure-context API) that a call waits -- with a real SIP caller.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from bench.impair import Namespaces, in_netns
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from playwright.sync_api import Page, expect, sync_playwright

from tests.harness.audio import prompt_seconds
from tests.harness.browser import CHROMIUM, CHROMIUM_ARGS
from tests.harness.daemon import DEMO, Daemon
from tests.harness.modes import office_mode
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers

BOX, PC = "198.18.0.1", "198.18.0.2"
BOX_URL = f"https://{BOX}"
# Wraps the page's Notification constructor to record each notification and whether the
# browser showed it ("show" event); permission and secure context stay the browser's own.
RECORD_SHOWN = """
window.__notes = [];
if (window.Notification) {
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      const note = { title, body: options?.body, shown: false };
      window.__notes.push(note);
      this.addEventListener('show', () => { note.shown = true; });
      this.addEventListener('error', () => { note.error = true; });
    }
  };
}
"""


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"ip {' '.join(args)}: {done.stderr}"


@pytest.fixture(scope="module")
def lan_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """The daemon in namespace ``box`` on 198.18.0.1, reachable from this side on 198.18.0.2."""
    assert os.geteuid() == 0, "network namespaces need root"
    tmp = tmp_path_factory.mktemp("lanbox")
    with Namespaces(tag="t") as ns:
        veth_box, veth_pc = f"zv{os.getpid()}b"[-15:], f"zv{os.getpid()}p"[-15:]
        ip("link", "add", veth_pc, "type", "veth", "peer", "name", veth_box)
        try:
            ip("link", "set", veth_box, "netns", ns.box)
            ip("-n", ns.box, "addr", "add", f"{BOX}/30", "dev", veth_box)
            ip("-n", ns.box, "link", "set", veth_box, "up")
            ip("addr", "add", f"{PC}/30", "dev", veth_pc)
            ip("link", "set", veth_pc, "up")
            yield from _daemon_in(ns.box, tmp)
        finally:
            subprocess.run(["ip", "link", "del", veth_pc], capture_output=True, check=False)


def _daemon_in(netns: str, tmp: Path) -> Iterator[Daemon]:
    cfg: dict[str, Any] = yaml.safe_load((DEMO / "config.yaml").read_text(encoding="utf-8"))
    data = tmp / "data"
    cfg["data_dir"] = str(data)
    cfg["sip"].update(bind="0.0.0.0", port=5060, allowed_peers=["127.0.0.0/8", "198.18.0.0/30"])
    # as the appliance image: every address, ports 80 and 443 (the namespace is ours alone)
    cfg["http"] = {"bind": "0.0.0.0", "port": 80, "tls": {"port": 443}}
    cfg["teams"] = [{"id": "lvs", "name": "LVS", "distribution": "pull", "ring_timeout": 8, "wrap_up": 0},
                    {"id": "sap", "name": "SAP", "distribution": "pull"}, {"id": "pc", "name": "PC"}]  # fmt: skip
    (data / "modes").mkdir(parents=True)
    (data / "modes" / "hotline.yaml").write_text(yaml.safe_dump(office_mode(), allow_unicode=True), encoding="utf-8")
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    log_path = tmp / "daemon.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            in_netns(netns, [sys.executable, "-m", "zentrale", "serve", "--config", str(config)]),
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    box = Daemon(proc, 5060, 80, data, log_path, config)
    try:
        wait_until(lambda: "ready:" in box.log() or not box.alive(), 30, "the daemon in its namespace")
        assert box.alive(), box.log()
        yield box
    finally:
        box.stop()
        assert "Traceback" not in box.log(), box.log()


@pytest.fixture(scope="module")
def ca_file(lan_box: Daemon, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CA as an office PC gets it: over plain HTTP from the LAN address, no login."""
    r = httpx.get(f"http://{BOX}/zentrale-ca.crt", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-x509-ca-cert"
    path = tmp_path_factory.mktemp("pc") / "zentrale-ca.crt"
    path.write_bytes(r.content)
    assert path.read_bytes() == (lan_box.data_dir / "tls" / "ca.crt").read_bytes()
    return path


@pytest.fixture(scope="module")
def chromium_home(ca_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh home whose NSS database (what chromium on Linux trusts) holds the box's CA."""
    home = tmp_path_factory.mktemp("home")
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    for argv in (
        ["certutil", "-N", "-d", f"sql:{db}", "--empty-password"],
        ["certutil", "-A", "-d", f"sql:{db}", "-n", "Zentrale local CA", "-t", "C,,", "-i", str(ca_file)],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    return home


def test_plain_http_from_the_lan_leads_to_https_except_the_ca_and_health(lan_box: Daemon, ca_file: Path) -> None:
    r = httpx.get(f"http://{BOX}/api/auth/state?x=1", timeout=10)
    assert r.status_code == 308
    assert r.headers["location"] == f"{BOX_URL}/api/auth/state?x=1"
    assert httpx.get(f"http://{BOX}/health", timeout=10).json() == {"status": "ok"}
    # over HTTPS, verified against the CA for the LAN address and the mDNS name
    with httpx.Client(verify=ssl.create_default_context(cafile=str(ca_file)), timeout=10) as pc:
        assert pc.get(f"{BOX_URL}/api/auth/state").json()["setup_needed"] is True
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{BOX_URL}/health", timeout=10)  # not trusted without the box's CA


def test_an_office_pc_sets_the_box_up_over_https_and_a_background_agent_gets_a_notification(
    lan_box: Daemon, ca_file: Path, chromium_home: Path, tmp_path: Path
) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env={**os.environ,
                                    "HOME": str(chromium_home)})  # fmt: skip
        try:
            set_up_in_the_browser(browser.new_context().new_page(), lan_box, ca_file)
            add_agent(lan_box, ca_file)
            agent = browser.new_context()
            agent.grant_permissions(["notifications"], origin=BOX_URL)
            agent.add_init_script(RECORD_SHOWN)
            page = agent.new_page()
            log_in(page, "anna", "anna-password")
            assert page.evaluate("window.isSecureContext") is True
            assert page.evaluate("Notification.permission") == "granted"
            expect(page.locator("#agent-state")).to_be_visible()
            page.fill("#phone-number", "201")
            page.click("#agent-login")
            expect(page.locator("#agent-state")).to_have_attribute("data-state", "available")
            # another tab in front: the agent's page is a background tab. (Playwright keeps every page
            # it drives "visible" to scripts -- microsoft/playwright#2286, #12099 -- so the page cannot
            # be made to report "hidden"; the page's notify() does not look at visibility either.)
            other = agent.new_page()
            other.goto(f"{BOX_URL}/health")
            other.bring_to_front()
            stop_caller = caller_waits(tmp_path)
            wait_until(lambda: page.evaluate("window.__notes.filter(n => n.shown).length") > 0, 15, "a notification")
            note = page.evaluate("window.__notes[0]")
            assert "LVS" in note["title"], note
            assert "0301234567" in note["body"], note
            assert not note.get("error"), note
            stop_caller()
            # the same box over plain HTTP is no secure context: no Notification for it
            control = browser.new_context().new_page()
            control.goto(f"http://{BOX}/health")
            assert control.evaluate("window.isSecureContext") is False
        finally:
            browser.close()


def set_up_in_the_browser(page: Page, box: Daemon, ca_file: Path) -> None:
    page.goto(f"http://{BOX}/")  # what a person types: redirected to HTTPS, which the PC trusts
    expect(page.locator("#setup-form")).to_be_visible()
    assert page.url.startswith(BOX_URL + "/"), page.url
    page.fill("#setup-token", box.setup_token())
    page.fill("#setup-name", "chef")
    page.fill("#setup-display", "Chefin")
    page.fill("#setup-password", "chef-password")
    page.fill("#setup-repeat", "chef-password")
    page.click("#setup-submit")
    expect(page.locator("#users tr[data-user=chef]")).to_be_visible()
    # Verwaltung: the certificate card names the CA the PC trusts; the faults card is there
    ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
    expected = ":".join(f"{b:02X}" for b in ca.fingerprint(hashes.SHA256()))
    expect(page.locator("#ca-fingerprint")).to_have_text(expected)
    expect(page.locator("#tls-state")).to_have_attribute("data-source", "local")
    expect(page.locator("#tls-state")).to_contain_text(BOX)
    expect(page.locator("#faults h2")).to_be_visible()
    page.context.close()


def add_agent(box: Daemon, ca_file: Path) -> None:
    with httpx.Client(
        base_url=BOX_URL, verify=ssl.create_default_context(cafile=str(ca_file)), headers=box.auth_headers, timeout=10
    ) as api:
        r = api.put("/api/agents/anna", json={"name": "Anna Berg", "teams": ["lvs"]})
        assert r.status_code == 200, r.text
        r = api.put("/api/users/anna", json={"role": "agent", "agent_id": "anna", "password": "anna-password"})
        assert r.status_code == 200, r.text


def log_in(page: Page, user: str, password: str) -> None:
    page.goto(BOX_URL + "/")
    page.fill("#name", user)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(BOX_URL + "/")
    expect(page.locator("#conn:not(.off)")).to_be_attached()


def caller_waits(tmp_path: Path) -> Callable[[], None]:
    """A pjsua2 phone on the PC side calls the box's LAN address and chooses team LVS (1)."""
    caller = Phone.start(name="lan-caller", bind_ip=PC, codecs="PCMU", user="0301234567")
    call = caller.call(f"sip:100@{BOX}:5060", record=tmp_path / "caller.wav")
    caller.wait_event("media_active", call=call, timeout=10)
    time.sleep(prompt_seconds("greeting") + 1.0)
    caller.dtmf(call, "1")
    return caller.stop
