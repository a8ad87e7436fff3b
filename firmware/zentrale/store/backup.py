"""Backup and restore: one tar archive with everything a box needs to come back.

Inside ``zentrale-backup/``: ``MANIFEST.json`` (format, version, counts and
the SHA-256 of every file), ``config.yaml``, ``zentrale.db`` (switch states,
settings such as the active mode, messages' rows, audit and call log),
``modes/``, ``prompts/`` and ``messages/``.

The database is copied with SQLite's online backup API, so the snapshot is
consistent while the daemon runs and writes; only the message files whose
rows are in that snapshot are archived (a message stored a moment later is
in the next backup, never half in this one). The archive holds the
configuration, which may hold a SIP password: it is written with mode 0600.

Restore reads the archive as a stream and checks it before anything is
written (``RestoreLimits``: sizes from the tar headers, the bytes actually
inflated against the compressed ones, the manifest's size and contents, every
checksum), refuses a data folder in use unless forced, and keeps what it
replaces in ``.before-restore-<time>/``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from zentrale.errors import StoreError

log = logging.getLogger(__name__)

FORMAT = 1
TOP = "zentrale-backup"
DB_NAME = "zentrale.db"
FOLDERS = ("modes", "prompts", "messages")
EXTRAS = ("faults.json",)  # carried for people to read, never restored


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _snapshot_database(source: Path, target: Path) -> list[str]:
    """Copy the live database (online backup API); returns the message files its rows name."""
    src = sqlite3.connect(source, timeout=10)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            files = [str(row[0]) for row in dst.execute("SELECT file FROM messages ORDER BY created_at")]
        finally:
            dst.close()
    finally:
        src.close()
    return files


def _files_under(folder: Path) -> Iterator[Path]:
    if folder.is_dir():
        yield from sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith((".tmp", ".part")))


def create_backup(
    data_dir: Path, config_file: Path | None, archive: Path, version: str, extras: dict[str, Path] | None = None
) -> dict[str, Any]:
    """Write the archive (atomically: a temporary file renamed at the end); returns the manifest.
    ``extras``: more files by name in EXTRAS (the faults log, if asked for); a restore ignores them."""
    database = data_dir / DB_NAME
    if not database.is_file():
        raise StoreError(f"no database at {database}: is {data_dir} the data folder?")
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".zentrale-backup-", dir=archive.parent) as tmp:
        snapshot = Path(tmp) / DB_NAME
        message_files = _snapshot_database(database, snapshot)
        entries: list[tuple[str, Path]] = [(DB_NAME, snapshot)]
        if config_file is not None:
            entries.append(("config.yaml", config_file))
        entries += [(name, path) for name, path in (extras or {}).items() if name in EXTRAS]
        for folder in ("modes", "prompts"):
            entries += [(p.relative_to(data_dir).as_posix(), p) for p in _files_under(data_dir / folder)]
        missing = []
        for name in message_files:
            path = data_dir / name
            if path.is_file():
                entries.append((name, path))
            else:
                missing.append(name)
        if missing:
            log.warning("backup: %d message file(s) named by the database are missing: %s", len(missing), missing)
        manifest = {
            "format": FORMAT,
            "zentrale": version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "counts": {
                "modes": sum(1 for n, _ in entries if n.startswith("modes/")),
                "prompts": sum(1 for n, _ in entries if n.startswith("prompts/")),
                "messages": len(message_files) - len(missing),
            },
            "missing_messages": missing,
            "files": {name: _sha256(path) for name, path in entries},
        }
        partial = archive.with_name(archive.name + ".part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        mode = "w:gz" if archive.name.endswith((".gz", ".tgz")) else "w"
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode=mode) as tar:  # type: ignore[call-overload]
            blob = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(f"{TOP}/MANIFEST.json")
            info.size, info.mtime, info.mode = len(blob), int(datetime.now(UTC).timestamp()), 0o600
            tar.addfile(info, io.BytesIO(blob))
            for name, path in entries:
                tar.add(path, arcname=f"{TOP}/{name}", recursive=False)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, archive)
    log.info("backup %s: %s", archive, manifest["counts"])
    return manifest


# --- reading an archive: every size checked while it streams, before anything is written --------


@dataclass(frozen=True)
class RestoreLimits:
    """What an archive may hold. A gzip bomb of 2.9 MB once wrote 2.8 GB into the data folder
    and a 389 KB archive with a huge manifest took 1 GB of memory: these are checked from the
    tar headers before a member's data is read, and on the bytes actually inflated as they come."""

    max_total_bytes: int = 64 * 1024**3  # the callers lower it to the free space of the data folder
    max_file_bytes: int = 8 * 1024**3  # one file (the database is the big one)
    max_manifest_bytes: int = 16 * 1024**2  # ~150,000 files listed
    max_members: int = 500_000
    max_ratio: float = 20.0  # inflated / compressed bytes: speech and a database compress 1.2-10 times
    ratio_allowance: int = 64 * 1024**2  # a small archive may compress better (a fresh database is zeros)


Source = BinaryIO | io.RawIOBase  # a file, or an upload as it arrives
MAX_HEADER_BYTES = 64 * 1024  # a pax or GNU long-name header (a path and a few numbers)
CHUNK = 1 << 20


class ArchiveRefused(StoreError):
    """An archive that breaks a limit (or is not a Zentrale backup): nothing was written."""


class _CheckedTarInfo(tarfile.TarInfo):
    """tarfile reads a pax or GNU long-name header into memory whole, whatever size it declares:
    refuse a big one before it is read."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        extended = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                    tarfile.GNUTYPE_LONGLINK)  # fmt: skip
        if self.type in extended and self.size > MAX_HEADER_BYTES:
            raise ArchiveRefused(f"an extended tar header of {self.size} bytes (at most {MAX_HEADER_BYTES})")
        return super()._proc_member(tarfile_)  # type: ignore[misc, no-any-return]


class _Inflated(io.RawIOBase):
    """The archive's bytes as tar reads them, inflated, counted against the compressed bytes."""

    def __init__(self, raw: Source, limits: RestoreLimits) -> None:
        self._raw = raw
        self._limits = limits
        self.compressed = 0
        self.inflated = 0
        head = raw.read(2) or b""
        self.compressed += len(head)
        if head == b"\x1f\x8b":
            self._decompressor: Any = zlib.decompressobj(wbits=31)  # gzip (RFC 1952)
        else:
            self._decompressor = None  # a plain tar ("zentrale backup x.tar")
        self._pending = self._decompressor.decompress(head) if self._decompressor else head

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            if self._decompressor is None:
                self._pending = self._raw.read(CHUNK) or b""
                self.compressed += len(self._pending)
                if not self._pending:
                    return 0
                break
            if self._decompressor.eof:
                return 0  # bytes after the gzip stream are ignored, as gzip does
            data = self._decompressor.unconsumed_tail
            if not data:
                data = self._raw.read(CHUNK // 4) or b""
                self.compressed += len(data)
                if not data:
                    raise ArchiveRefused("the archive ends in the middle (a truncated upload?)")
            # max_length: at most one chunk inflated at a time, however well it is compressed
            self._pending = self._decompressor.decompress(data, CHUNK)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self.inflated += size
        self._check()
        return size

    def _check(self) -> None:
        limits = self._limits
        if self.inflated > limits.max_total_bytes:
            raise ArchiveRefused(f"the archive unpacks to more than {_mb(limits.max_total_bytes)}")
        if self.inflated > limits.max_ratio * self.compressed + limits.ratio_allowance:
            raise ArchiveRefused(
                f"the archive unpacks to more than {limits.max_ratio:g} times its size "
                f"({_mb(self.inflated)} from {_mb(self.compressed)}): not a backup of this box"
            )


def _mb(size: float) -> str:
    return f"{size / 1e6:.1f} MB" if size < 1e9 else f"{size / 1e9:.1f} GB"


def _safe_name(member: tarfile.TarInfo) -> str | None:
    """The member's path below TOP, or None when it must not be extracted."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or len(path.parts) < 2 or path.parts[0] != TOP:
        return None
    return PurePosixPath(*path.parts[1:]).as_posix()


def _known_file(name: object) -> bool:
    """A name the manifest may list: the database, the configuration, a file in one of the folders."""
    if not isinstance(name, str) or "\0" in name or len(name) > 1024:
        return False
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or any(len(p.encode()) > 255 for p in path.parts):
        return False
    return name in (DB_NAME, "config.yaml", *EXTRAS) or (len(path.parts) > 1 and path.parts[0] in FOLDERS)


def _manifest(blob: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(blob)
    except (ValueError, RecursionError):
        raise ArchiveRefused("MANIFEST.json is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveRefused(f"no Zentrale backup manifest of format {FORMAT}")
    files, counts = manifest.get("files"), manifest.get("counts")
    if not isinstance(files, dict) or not all(
        _known_file(name) and isinstance(digest, str) and len(digest) == 64 for name, digest in files.items()
    ):
        raise ArchiveRefused("MANIFEST.json lists files a backup cannot hold")
    if not isinstance(counts, dict) or not all(
        isinstance(counts.get(k), int) for k in ("modes", "prompts", "messages")
    ):
        raise ArchiveRefused("MANIFEST.json has no counts")
    if not isinstance(manifest.get("created_at"), str):
        raise ArchiveRefused("MANIFEST.json has no creation time")
    return manifest


def _walk(source: Source, limits: RestoreLimits, staging: Path | None) -> dict[str, Any]:
    """Read the archive as a stream, checking as it goes; with ``staging``, write its files there.
    Without, nothing is written anywhere: that is the check done before a restore."""
    inflated = _Inflated(source, limits)
    manifest: dict[str, Any] | None = None
    seen: set[str] = set()
    declared = 0
    members = 0
    with tarfile.open(fileobj=inflated, mode="r|", tarinfo=_CheckedTarInfo) as tar:
        while (member := tar.next()) is not None:
            tar.members.clear()  # type: ignore[attr-defined]  # a stream keeps every header: memory
            members += 1
            declared += member.size
            if members > limits.max_members:
                raise ArchiveRefused(f"more than {limits.max_members} files")
            if declared > limits.max_total_bytes:
                raise ArchiveRefused(f"the archive unpacks to more than {_mb(limits.max_total_bytes)}")
            name = _safe_name(member)
            if member.isdir():
                continue
            if member.size == 0 and not member.isfile():
                log.warning("restore: skipping %s", member.name[:200])  # a link or device: never written
                continue
            if name is None or not member.isfile() or member.issparse():
                raise ArchiveRefused(f"{member.name[:200]!r} is not a file a backup holds")
            if manifest is None:
                if name != "MANIFEST.json":
                    raise ArchiveRefused("no Zentrale backup manifest at its start")
                if member.size > limits.max_manifest_bytes:
                    raise ArchiveRefused(f"MANIFEST.json is {_mb(member.size)}, at most "
                                         f"{_mb(limits.max_manifest_bytes)}")  # fmt: skip
                manifest = _manifest(_read_member(tar, member))
                continue
            if name not in manifest["files"] or name in seen:
                raise ArchiveRefused(f"files not in the manifest: [{name[:200]!r}]")
            if member.size > limits.max_file_bytes:
                raise ArchiveRefused(f"{name} is {_mb(member.size)}, at most {_mb(limits.max_file_bytes)}")
            seen.add(name)
            if _copy_member(tar, member, staging / name if staging else None) != manifest["files"][name]:
                raise ArchiveRefused(f"{name} is missing or damaged")
    if manifest is None:
        raise ArchiveRefused(f"no Zentrale backup manifest of format {FORMAT}")
    missing = sorted(set(manifest["files"]) - seen)
    if missing:
        raise ArchiveRefused(f"{missing[0]} is missing or damaged")
    manifest["unpacked_bytes"] = declared
    return manifest


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    source = tar.extractfile(member)
    assert source is not None
    return source.read()


def _copy_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path | None) -> str:
    """The member's SHA-256, its bytes written to ``target`` (if given) in chunks."""
    source = tar.extractfile(member)
    assert source is not None
    digest = hashlib.sha256()
    out: BinaryIO | None = None
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = target.open("wb")
    try:
        while block := source.read(CHUNK):
            digest.update(block)
            if out is not None:
                out.write(block)
    finally:
        if out is not None:
            out.close()
    return digest.hexdigest()


def _refusal(archive: str, err: Exception) -> StoreError:
    if isinstance(err, ArchiveRefused):
        return ArchiveRefused(f"{archive}: {err}")
    return StoreError(f"{archive}: not a readable backup archive ({err})")


_UNREADABLE = (ArchiveRefused, tarfile.TarError, zlib.error, EOFError, ValueError)


def check_stream(source: Source, limits: RestoreLimits, name: str = "the archive") -> dict[str, Any]:
    """Check an archive as it streams in (an upload): sizes, manifest, every checksum; nothing
    is written. Raises ArchiveRefused/StoreError."""
    try:
        return _walk(source, limits, None)
    except _UNREADABLE as err:
        raise _refusal(name, err) from err


def read_archive(archive: Path, staging: Path | None, limits: RestoreLimits | None = None) -> dict[str, Any]:
    """Check an archive, and unpack it into ``staging`` (regular files only, nothing outside it,
    every checksum compared); ``staging=None``: check only, nothing written."""
    try:
        with archive.open("rb") as raw:
            return _walk(raw, limits or RestoreLimits(), staging)
    except (OSError, *_UNREADABLE) as err:
        raise _refusal(str(archive), err) from err


def room_for(folder: Path, reserve: int = 100 * 1024**2, limits: RestoreLimits | None = None) -> RestoreLimits:
    """The limits for a restore into ``folder``: what it unpacks to must fit its free space."""
    base = limits or RestoreLimits()
    folder.mkdir(parents=True, exist_ok=True)
    free = max(0, shutil.disk_usage(folder).free - reserve)
    return replace(base, max_total_bytes=min(base.max_total_bytes, free))


def _owner_of(path: Path) -> tuple[int, int] | None:
    """Restoring as root for the service user: new files get the data folder's owner."""
    if os.geteuid() != 0:
        return None
    st = path.stat()
    return st.st_uid, st.st_gid


def _put_config(source: Path, target: Path) -> None:
    """The restored configuration takes the old one's mode and owner (it may hold a password)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.stat() if target.exists() else None
    if old is not None:
        shutil.copy2(target, target.with_name(target.name + ".before-restore"))
    shutil.copyfile(source, target)
    os.chmod(target, (old.st_mode & 0o777) if old else 0o640)
    if old is not None and os.geteuid() == 0:
        os.chown(target, old.st_uid, old.st_gid)


def restore_backup(
    archive: Path,
    data_dir: Path,
    config_file: Path | None,
    *,
    force: bool,
    with_config: bool = True,
    limits: RestoreLimits | None = None,
) -> dict[str, Any]:
    """Bring an archive back into ``data_dir`` (and its configuration to ``config_file``;
    ``with_config=False``: leave the configuration file as it is). The archive is read twice:
    checked without writing anything, then unpacked (checked again)."""
    if (data_dir / DB_NAME).exists() and not force:
        raise StoreError(
            f"{data_dir} already holds a database: stop the daemon (systemctl stop zentrale) "
            "and restore with --force to replace it"
        )
    limits = room_for(data_dir, limits=limits)
    read_archive(archive, None, limits)  # every limit and checksum, before anything is written
    owner = _owner_of(data_dir)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    try:
        manifest = read_archive(archive, staging, limits)
        has_config = with_config and "config.yaml" in manifest["files"]
        if has_config and config_file is None:
            raise StoreError("the archive holds a configuration: name where it goes with --config FILE")
        keep = data_dir / f".before-restore-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
        for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", *FOLDERS):
            if (data_dir / name).exists():
                keep.mkdir(exist_ok=True)
                os.replace(data_dir / name, keep / name)
        for name in (DB_NAME, *FOLDERS):
            if (staging / name).exists():
                os.replace(staging / name, data_dir / name)
        for folder in FOLDERS:
            (data_dir / folder).mkdir(exist_ok=True)
        if owner is not None:
            for path in [data_dir / DB_NAME, *[data_dir / f for f in FOLDERS]]:
                for item in [path, *(path.rglob("*") if path.is_dir() else [])]:
                    os.chown(item, *owner)
        if has_config and config_file is not None:
            _put_config(staging / "config.yaml", config_file)
        if keep.exists():
            log.info("restore: what was replaced is kept in %s", keep)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("restored %s into %s: %s", archive, data_dir, manifest["counts"])
    return manifest


PENDING = "restore-pending.tar.gz"  # an archive checked by the web page, restored at the next start
FAILED = "restore-failed.tar.gz"


def apply_pending_restore(data_dir: Path) -> dict[str, Any] | None:
    """At start, before anything opens the database: restore the archive the web page left.
    The configuration file stays as it is (on the appliance it is read-only to the daemon).
    A failure keeps the data as it was and the archive as ``restore-failed.tar.gz``."""
    pending = data_dir / PENDING
    if not pending.is_file():
        return None
    try:
        manifest = restore_backup(pending, data_dir, None, force=True, with_config=False)
    except (StoreError, OSError) as err:
        log.error("restore from the web page failed, the data stays as it was: %s", err)
        os.replace(pending, data_dir / FAILED)
        return None
    pending.unlink()
    log.warning("restored the backup of %s uploaded in the web page: %s", manifest["created_at"], manifest["counts"])
    return manifest
