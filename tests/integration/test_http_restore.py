"""Restore bombs against the real daemon and the real command line: a 2.9 MB gzip archive
that unpacks to 2.8 GB and an archive with a huge manifest are refused with a clear 4xx while
they stream in; nothing is written to the data folder and the daemon's memory stays low."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.daemon import Daemon, running_daemon
from zentrale.store.backup import TOP

BLOCK = bytes(1 << 20)


def member(name: str, data: bytes = b"", size: int | None = None) -> bytes:
    info = tarfile.TarInfo(f"{TOP}/{name}")
    info.size = len(data) if size is None else size
    info.mtime = 1_700_000_000
    padding = bytes(-len(data) % 512)
    return info.tobuf(format=tarfile.USTAR_FORMAT) + data + padding


def manifest(**files: str) -> bytes:
    return json.dumps({
        "format": 1, "zentrale": "0.1.0", "created_at": "2026-01-01T00:00:00+00:00",
        "counts": {"modes": 0, "prompts": 0, "messages": 0}, "missing_messages": [], "files": files,
    }).encode()  # fmt: skip


def gzip_bomb(path: Path, megabytes: int) -> None:
    """A real .tar.gz: a manifest, then a "database" of ``megabytes`` MB of zeros. Each MB is
    deflated after a full flush (RFC 1951 §3.2.3: no back-references across it), so one
    compressed MB repeated N times is a valid stream -- built in a second, not in minutes."""
    prefix = member("MANIFEST.json", manifest(**{"zentrale.db": "0" * 64})) + member(
        "zentrale.db", size=megabytes << 20
    )
    suffix = bytes(1024)  # the end-of-archive blocks
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH)
    one_mb = deflate.compress(BLOCK) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert deflate.compress(BLOCK) + deflate.flush(zlib.Z_FULL_FLUSH) == one_mb
    tail = deflate.compress(suffix) + deflate.flush()
    crc = zlib.crc32(prefix)
    for _ in range(megabytes):
        crc = zlib.crc32(BLOCK, crc)
    crc = zlib.crc32(suffix, crc)
    size = len(prefix) + (megabytes << 20) + len(suffix)
    with path.open("wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + head)  # RFC 1952 header, then the deflate data
        for _ in range(megabytes):
            out.write(one_mb)
        out.write(tail + crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little"))


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bombs") / "bomb.tar.gz"
    gzip_bomb(path, 2800)
    return path


@pytest.fixture(scope="module")
def manifest_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """389 KB of gzip whose manifest is 400 MB of JSON."""
    path = tmp_path_factory.mktemp("bombs") / "manifest.tar.gz"
    size = 400 << 20
    with path.open("wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"{TOP}/MANIFEST.json")
        info.size = size
        tar.addfile(info, Letters(size))
    return path


class Letters(io.RawIOBase):
    """``size`` bytes of one JSON string, made as they are read (400 MB never in memory here)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = b"a" * n
        self.left -= n
        return n


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("restore")) as daemon:
        yield daemon


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def listing(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def test_the_bomb_is_what_the_issue_describes(bomb: Path) -> None:
    assert 2.8e6 < bomb.stat().st_size < 3.0e6
    with tarfile.open(bomb) as tar:  # a valid archive: tar itself would unpack 2.8 GB from it
        assert tar.next().name.endswith("MANIFEST.json")  # type: ignore[union-attr]
        assert tar.next().size == 2800 << 20  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("archive", "problem"),
    [("bomb", "more than 20 times its size"), ("manifest_bomb", "MANIFEST.json is 419.4 MB, at most 16.8 MB")],
)
def test_a_restore_bomb_uploaded_is_refused_while_it_streams_and_nothing_is_written(
    box: Daemon, request: pytest.FixtureRequest, archive: str, problem: str
) -> None:
    path: Path = request.getfixturevalue(archive)
    before, rss_before = listing(box.data_dir), peak_rss_mb(box.proc.pid)
    started = time.monotonic()
    r = box.http.post("/api/backup/restore", content=path.read_bytes(), timeout=120)
    took = time.monotonic() - started
    rss_after = peak_rss_mb(box.proc.pid)
    print(f"{path.name} ({path.stat().st_size / 1e6:.1f} MB): {r.status_code} in {took:.1f} s, daemon peak RSS "
          f"{rss_before:.0f} -> {rss_after:.0f} MB")  # fmt: skip
    assert r.status_code == 422, r.text
    assert problem in r.json()["error"] and r.json()["error"].startswith("the uploaded file: ")
    assert rss_after - rss_before < 100
    after = listing(box.data_dir)
    assert set(after) == set(before) and not [p for p in box.data_dir.iterdir() if p.name.startswith(".restore")]
    assert not (box.data_dir / "restore-pending.tar.gz").exists()
    assert box.alive() and box.http.get("/health").status_code == 200
    assert "Traceback" not in box.log()


def test_the_command_line_restore_refuses_a_bomb_before_writing_anything(bomb: Path, tmp_path: Path) -> None:
    target = tmp_path / "fresh"
    code = (
        "import sys\n"
        "from zentrale.cli import main\n"
        "code = main()\n"
        # VmHWM, not getrusage: ru_maxrss keeps the high-water mark of the image before exec (pytest's)
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
        "print('peak-rss-kb', hwm, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    argv = ["zentrale", "restore", str(bomb), "--data-dir", str(target), "--config", str(tmp_path / "c.yaml")]
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.argv = {argv!r}\n{code}"],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    peak = int(result.stderr.split("peak-rss-kb")[1].split()[0]) / 1024
    print(f"zentrale restore of the bomb: exit {result.returncode}, peak RSS {peak:.0f} MB")
    assert result.returncode == 1
    assert "more than 20 times its size" in result.stderr
    assert peak < 150
    assert listing(target) == {} and not list(target.iterdir())
    assert not (tmp_path / "c.yaml").exists()
