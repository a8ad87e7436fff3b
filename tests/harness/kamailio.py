"""Kamailio as the office PBX stand-in: registrar + proxy with digest auth.

Every user's password is ``secret`` unless listed in ``passwords``. REGISTER
is challenged (401), initial INVITEs are challenged (407) like a PBX that
only lets its own extensions call out.
"""

from __future__ import annotations

import contextlib
import glob
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.harness.daemon import free_port
from tests.harness.sip_client import request
from tests.harness.waits import wait_until

MODULES = next(iter(glob.glob("/usr/lib/*/kamailio/modules/")), "/usr/lib/x86_64-linux-gnu/kamailio/modules/")

CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=2
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "xlog.so"
modparam("auth", "nonce_expire", 300)
{registrar_params}
request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route() || is_method("ACK|BYE|INVITE|INFO|CANCEL")) {{ t_relay(); }}
        exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    $var(pw) = "secret";
{password_cases}
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("$td", "$var(pw)", "0")) {{ www_challenge("$td", "0"); exit; }}
{register_check}
        xlog("L_INFO", "register $fu expires $hdr(Expires)\n");
        save("location");
        exit;
    }}
    if (is_method("INVITE")) {{
        if (!pv_proxy_authenticate("$fd", "$var(pw)", "0")) {{ proxy_challenge("$fd", "0"); exit; }}
        consume_credentials();
    }}
    xlog("L_INFO", "route $rm from $fu to $ru\\n");
    record_route();
    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    t_relay();
}}
"""


@dataclass
class Kamailio:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def answers(kam: Kamailio) -> bool:
    """Kamailio is up when it answers an OPTIONS over UDP (404: nobody registered under that
    name; any answer will do) and accepts a TCP connection."""
    if kam.proc.poll() is not None:
        raise RuntimeError(f"kamailio exited:\n{kam.log()}")
    if request("OPTIONS", "ping", ("127.0.0.1", kam.port), "127.0.0.1", timeout=0.3) is None:
        return False
    try:
        socket.create_connection(("127.0.0.1", kam.port), timeout=0.3).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def running_kamailio(
    workdir: Path,
    passwords: dict[str, str] | None = None,
    *,
    port: int | None = None,
    max_expires: int | None = None,
    min_expires: int | None = None,
) -> Iterator[Kamailio]:
    """``max_expires``: the registrar grants at most this; ``min_expires``: a shorter REGISTER is
    answered 423 Interval Too Brief with this Min-Expires (RFC 3261 §10.3 step 7). ``port``: start
    again where a previous one ran (a restarted PBX that lost its contacts)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    cases = "\n".join(f'    if ($au == "{user}") {{ $var(pw) = "{pw}"; }}' for user, pw in (passwords or {}).items())
    params = ""
    if max_expires is not None:
        params = f'modparam("registrar", "max_expires", {max_expires})\nmodparam("registrar", "min_expires", 0)'
    check = ""
    if min_expires is not None:
        expires = "$(hdr(Expires){s.int})"
        check = (
            f"        if ($hdr(Expires) != $null && {expires} > 0 && {expires} < {min_expires}) {{ "
            f'append_to_reply("Min-Expires: {min_expires}\\r\\n"); sl_send_reply("423", "Interval Too Brief"); exit; }}'
        )
    cfg = workdir / "kamailio.cfg"
    cfg.write_text(CONFIG.format(port=port, modules=MODULES, password_cases=cases, registrar_params=params,
                                 register_check=check))  # fmt: skip
    log_path = workdir / "kamailio.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(["kamailio", "-DD", "-E", "-f", str(cfg)], stdout=log, stderr=log)
    kam = Kamailio(proc, port, log_path)
    try:
        wait_until(lambda: answers(kam), 10, f"kamailio to answer on UDP and TCP port {port}:\n{kam.log()}")
        yield kam
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
