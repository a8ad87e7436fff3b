"""Test certificates made with the openssl command line: a CA and leaf certificates it signs."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Leaf:
    cert: Path
    key: Path


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(folder: Path, name: str = "ca") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
         "-days", "2", "-subj", f"/CN=Zentrale test {name}", cwd=folder)  # fmt: skip
    return folder / f"{name}.pem"


def make_leaf(folder: Path, ca: Path, name: str, *, ip: str = "127.0.0.1", dns: str = "box.test") -> Leaf:
    ext = folder / f"{name}.ext"
    ext.write_text(f"subjectAltName=DNS:{dns},IP:{ip}\n")
    _run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
         "-subj", f"/CN={dns}", cwd=folder)  # fmt: skip
    _run("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca), "-CAkey", str(ca.with_suffix(".key")),
         "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", str(ext), cwd=folder)  # fmt: skip
    return Leaf(folder / f"{name}.pem", folder / f"{name}.key")
