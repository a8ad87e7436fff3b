"""A FRITZ!Box's TR-064 interface on loopback, as AVM documents it, for the phonebook tests.

What ``fritzconnection`` (the library the box uses, ``phonebook/fritzbox.py``) talks to:

- ``GET /tr64desc.xml``: the device description (UPnP device architecture 1.0, AVM's
  ``systemVersion``), listing the service ``urn:dslforum-org:service:X_AVM-DE_OnTel:1``
  with its ``controlURL`` ``/upnp/control/x_contact`` and ``SCPDURL`` ``/x_contactSCPD.xml``;
  ``/igddesc.xml`` is missing (``text/html`` 404), as on a box with UPnP status off.
- ``GET /x_contactSCPD.xml``: the service description with ``GetPhonebookList`` and
  ``GetPhonebook`` (AVM "X_AVM-DE_OnTel", x_contactSCPD).
- ``POST /upnp/control/x_contact``: SOAP 1.1, HTTP digest authentication (RFC 2617, MD5,
  qop=auth) as the FRITZ!Box does it: a 401 with an HTML body and ``WWW-Authenticate:
  Digest realm="HTTPS Access"`` first, then the answer. ``GetPhonebook`` answers with
  ``NewPhonebookURL``, ``/phonebook.lua?sid=...&pbid=N`` (the session id handed out to
  the authenticated client only).
- ``GET /phonebook.lua``: the phonebook in AVM's XML format (``<phonebooks><phonebook>
  <contact><person><realName>``, ``<telephony><number type="home" prio="1">``).

``down()`` closes the port (a box that is off); ``password`` can be changed on the fly;
``answering.clear()`` makes SOAP requests hang until it is set again (a box that hangs).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

SERVICE = "urn:dslforum-org:service:X_AVM-DE_OnTel:1"
REALM = "HTTPS Access"

DESCRIPTION = """<?xml version="1.0"?>
<root xmlns="urn:dslforum-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>
<systemVersion><HW>226</HW><Major>154</Major><Minor>7</Minor><Patch>57</Patch><Buildnumber>108010</Buildnumber>
<Display>154.07.57</Display></systemVersion>
<device>
<deviceType>urn:dslforum-org:device:InternetGatewayDevice:1</deviceType>
<friendlyName>FRITZ!Box 7590 (test)</friendlyName>
<manufacturer>AVM</manufacturer>
<manufacturerURL>http://www.avm.de</manufacturerURL>
<modelDescription>FRITZ!Box 7590</modelDescription>
<modelName>FRITZ!Box 7590</modelName>
<modelNumber>avm</modelNumber>
<modelURL>http://www.avm.de</modelURL>
<UDN>uuid:739f2409-bccb-40e7-8e6c-3431C4ABCDEF</UDN>
<serviceList>
<service>
<serviceType>urn:dslforum-org:service:X_AVM-DE_OnTel:1</serviceType>
<serviceId>urn:X_AVM-DE_OnTel-com:serviceId:X_AVM-DE_OnTel1</serviceId>
<controlURL>/upnp/control/x_contact</controlURL>
<eventSubURL>/upnp/control/x_contact</eventSubURL>
<SCPDURL>/x_contactSCPD.xml</SCPDURL>
</service>
</serviceList>
<presentationURL>http://fritz.box</presentationURL>
</device>
</root>
"""

SCPD = """<?xml version="1.0"?>
<scpd xmlns="urn:dslforum-org:service-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>
<actionList>
<action><name>GetPhonebookList</name><argumentList>
<argument><name>NewPhonebookList</name><direction>out</direction>
<relatedStateVariable>X_AVM-DE_PhonebookList</relatedStateVariable></argument>
</argumentList></action>
<action><name>GetPhonebook</name><argumentList>
<argument><name>NewPhonebookId</name><direction>in</direction>
<relatedStateVariable>X_AVM-DE_PhonebookID</relatedStateVariable></argument>
<argument><name>NewPhonebookExtraID</name><direction>out</direction>
<relatedStateVariable>X_AVM-DE_PhonebookExtraID</relatedStateVariable></argument>
<argument><name>NewPhonebookName</name><direction>out</direction>
<relatedStateVariable>X_AVM-DE_PhonebookName</relatedStateVariable></argument>
<argument><name>NewPhonebookURL</name><direction>out</direction>
<relatedStateVariable>X_AVM-DE_PhonebookURL</relatedStateVariable></argument>
</argumentList></action>
</actionList>
<serviceStateTable>
<stateVariable sendEvents="no"><name>X_AVM-DE_PhonebookList</name><dataType>string</dataType></stateVariable>
<stateVariable sendEvents="no"><name>X_AVM-DE_PhonebookID</name><dataType>ui2</dataType></stateVariable>
<stateVariable sendEvents="no"><name>X_AVM-DE_PhonebookExtraID</name><dataType>string</dataType></stateVariable>
<stateVariable sendEvents="no"><name>X_AVM-DE_PhonebookName</name><dataType>string</dataType></stateVariable>
<stateVariable sendEvents="no"><name>X_AVM-DE_PhonebookURL</name><dataType>string</dataType></stateVariable>
</serviceStateTable>
</scpd>
"""

UNAUTHORIZED = "<HTML><HEAD><TITLE>401 Unauthorized (ERR_NONE)</TITLE></HEAD><BODY><H1>401 Unauthorized</H1>" \
    "Unauthorized request (ERR_NONE)</BODY></HTML>"  # fmt: skip
NOT_FOUND = "<HTML><HEAD><TITLE>404 Not Found</TITLE></HEAD><BODY><H1>404 Not Found</H1></BODY></HTML>"


def soap_answer(action: str, values: dict[str, str]) -> str:
    body = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in values.items())
    return (
        '<?xml version="1.0"?>\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
        f'<u:{action}Response xmlns:u="{SERVICE}">{body}</u:{action}Response></s:Body></s:Envelope>'
    )


def soap_fault(code: int, text: str) -> str:
    return (
        '<?xml version="1.0"?>\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault>'
        "\n<faultcode>s:Client</faultcode>\n<faultstring>UPnPError</faultstring>\n<detail>\n"
        '<UPnPError xmlns="urn:dslforum-org:control-1-0">\n'
        f"<errorCode>{code}</errorCode>\n<errorDescription>{text}</errorDescription>\n"
        "</UPnPError>\n</detail>\n</s:Fault>\n</s:Body>\n</s:Envelope>"
    )


def phonebook_xml(name: str, contacts: list[tuple[str, list[str]]]) -> str:
    """AVM's phonebook export format (what the box's phonebook.lua and the web UI's export give)."""
    parts = []
    for uid, (real_name, numbers) in enumerate(contacts, start=1):
        nums = "".join(
            f'<number type="{"home" if i == 0 else "mobile"}" prio="{int(i == 0)}" id="{i}">{escape(n)}</number>'
            for i, n in enumerate(numbers)
        )
        parts.append(
            f"<contact><category>0</category><person><realName>{escape(real_name)}</realName></person>"
            f'<telephony nid="{len(numbers)}">{nums}</telephony><services /><setup />'
            f'<features doorphone="0" /><mod_time>1700000000</mod_time><uniqueid>{uid}</uniqueid></contact>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<phonebooks>\n'
        f'<phonebook owner="1" name="{escape(name)}"><timestamp>1700000000</timestamp>{"".join(parts)}'
        "</phonebook>\n</phonebooks>\n"
    )


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _digest_fields(header: str) -> dict[str, str]:
    if not header.lower().startswith("digest "):
        return {}
    fields: dict[str, str] = {}
    for part in _split_commas(header[7:]):
        key, _, value = part.strip().partition("=")
        fields[key.strip().lower()] = value.strip().strip('"')
    return fields


def _split_commas(text: str) -> list[str]:
    parts, current, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


@dataclass
class FritzBox:
    user: str = "zentrale"
    password: str = "geheim-1234"
    phonebooks: dict[int, tuple[str, list[tuple[str, list[str]]]]] = field(default_factory=dict)
    port: int = 0
    soap_requests: int = 0
    answering: threading.Event = field(default_factory=threading.Event)  # cleared: SOAP requests hang
    parked: int = 0  # SOAP requests hanging now
    _nonces: set[str] = field(default_factory=set)
    _sids: set[str] = field(default_factory=set)
    _server: ThreadingHTTPServer | None = None

    def _authorized(self, header: str, method: str, uri: str) -> bool:
        """RFC 2617 §3.2.2: response = MD5(HA1:nonce:nc:cnonce:qop:HA2)."""
        f = _digest_fields(header)
        if f.get("username") != self.user or f.get("nonce") not in self._nonces or f.get("realm") != REALM:
            return False
        ha1 = _md5(f"{self.user}:{REALM}:{self.password}")
        ha2 = _md5(f"{method}:{f.get('uri', uri)}")
        if f.get("qop") == "auth":
            expected = _md5(f"{ha1}:{f['nonce']}:{f.get('nc', '')}:{f.get('cnonce', '')}:auth:{ha2}")
        else:
            expected = _md5(f"{ha1}:{f['nonce']}:{ha2}")
        return secrets.compare_digest(expected, f.get("response", ""))

    def _soap(self, action: str, body: str) -> tuple[int, str]:
        if action == "GetPhonebookList":
            return 200, soap_answer(action, {"NewPhonebookList": ",".join(str(i) for i in sorted(self.phonebooks))})
        if action == "GetPhonebook":
            start = body.find("<NewPhonebookId>")
            end = body.find("</NewPhonebookId>")
            try:
                pbid = int(body[start + len("<NewPhonebookId>") : end])
            except ValueError:
                return 500, soap_fault(402, "Invalid Args")
            if start < 0 or pbid not in self.phonebooks:
                return 500, soap_fault(713, "Invalid array index")
            sid = secrets.token_hex(8)
            self._sids.add(sid)
            url = f"http://127.0.0.1:{self.port}/phonebook.lua?sid={sid}&pbid={pbid}"
            return 200, soap_answer(action, {
                "NewPhonebookName": self.phonebooks[pbid][0], "NewPhonebookExtraID": "", "NewPhonebookURL": url,
            })  # fmt: skip
        return 500, soap_fault(401, "Invalid Action")

    def start(self) -> None:
        box = self
        self.answering.set()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _send(self, status: int, body: str, content_type: str, headers: dict[str, str] | None = None) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/tr64desc.xml":
                    self._send(200, DESCRIPTION, 'text/xml; charset="utf-8"')
                elif url.path == "/x_contactSCPD.xml":
                    self._send(200, SCPD, 'text/xml; charset="utf-8"')
                elif url.path == "/phonebook.lua":
                    query = parse_qs(url.query)
                    sid, pbid = query.get("sid", [""])[0], query.get("pbid", ["-1"])[0]
                    if sid not in box._sids or not pbid.isdigit() or int(pbid) not in box.phonebooks:
                        self._send(403, UNAUTHORIZED, "text/html")
                        return
                    name, contacts = box.phonebooks[int(pbid)]
                    self._send(200, phonebook_xml(name, contacts), "text/xml; charset=utf-8")
                else:
                    self._send(404, NOT_FOUND, "text/html")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                if urlsplit(self.path).path != "/upnp/control/x_contact":
                    self._send(404, NOT_FOUND, "text/html")
                    return
                box.soap_requests += 1
                if not box.answering.is_set():  # a box that hangs (until the test lets it answer)
                    box.parked += 1
                    box.answering.wait(60)
                    box.parked -= 1
                if not box._authorized(self.headers.get("Authorization", ""), "POST", self.path):
                    nonce = secrets.token_hex(8).upper()
                    box._nonces.add(nonce)
                    challenge = f'Digest realm="{REALM}", nonce="{nonce}", algorithm=MD5, qop="auth"'
                    self._send(401, UNAUTHORIZED, "text/html", {"WWW-Authenticate": challenge})
                    return
                service, _, action = self.headers.get("SoapAction", "").strip('"').partition("#")
                if service != SERVICE:
                    self._send(500, soap_fault(401, "Invalid Action"), 'text/xml; charset="utf-8"')
                    return
                status, answer = box._soap(action, body)
                self._send(status, answer, 'text/xml; charset="utf-8"')

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="tr064", daemon=True).start()

    def down(self) -> None:
        """The box is off: nothing listens on the port any more."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def running_fritzbox(**phonebooks: list[tuple[str, list[str]]]) -> Iterator[FritzBox]:
    """A FRITZ!Box on a free loopback port with phonebooks (keyword: phonebook name)."""
    books = {
        i: (name, [(n, list(nums)) for n, nums in contacts]) for i, (name, contacts) in enumerate(phonebooks.items())
    }
    box = FritzBox(phonebooks=books)  # copies: a test changing its box's phonebook changes no other test's
    box.start()
    try:
        yield box
    finally:
        box.down()
