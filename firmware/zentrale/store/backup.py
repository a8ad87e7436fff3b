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

Restore checks every file against the manifest before anything in the data
folder is touched, refuses a data folder in use unless forced, and keeps what
it replaces in ``.before-restore-<time>/``.
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
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from zentrale.errors import StoreError

log = logging.getLogger(__name__)

FORMAT = 1
TOP = "zentrale-backup"
DB_NAME = "zentrale.db"
FOLDERS = ("modes", "prompts", "messages")


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


def create_backup(data_dir: Path, config_file: Path | None, archive: Path, version: str) -> dict[str, Any]:
    """Write the archive (atomically: a temporary file renamed at the end); returns the manifest."""
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


def _safe_name(member: tarfile.TarInfo) -> str | None:
    """The member's path below TOP, or None when it must not be extracted."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or len(path.parts) < 2 or path.parts[0] != TOP:
        return None
    return PurePosixPath(*path.parts[1:]).as_posix()


def _unpack(tar: tarfile.TarFile, staging: Path) -> dict[str, Any] | None:
    manifest: dict[str, Any] | None = None
    for member in tar:
        name = _safe_name(member)
        if name is None or not member.isfile():
            if not member.isdir():
                log.warning("restore: skipping %s", member.name)
            continue
        source = tar.extractfile(member)
        assert source is not None
        if name == "MANIFEST.json":
            manifest = json.loads(source.read())
            continue
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            shutil.copyfileobj(source, out)
    return manifest


def read_archive(archive: Path, staging: Path) -> dict[str, Any]:
    """Unpack into ``staging`` (regular files only, nothing outside it) and check every checksum."""
    try:
        with tarfile.open(archive) as tar:
            manifest = _unpack(tar, staging)
    except (OSError, tarfile.TarError, ValueError) as err:
        raise StoreError(f"{archive}: not a readable backup archive ({err})") from err
    if manifest is None or manifest.get("format") != FORMAT:
        raise StoreError(f"{archive}: no Zentrale backup manifest of format {FORMAT}")
    for name, digest in manifest["files"].items():
        path = staging / name
        if not path.is_file() or _sha256(path) != digest:
            raise StoreError(f"{archive}: {name} is missing or damaged")
    extra = {p.relative_to(staging).as_posix() for p in _files_under(staging)} - set(manifest["files"])
    if extra:
        raise StoreError(f"{archive}: files not in the manifest: {sorted(extra)}")
    return manifest


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
    archive: Path, data_dir: Path, config_file: Path | None, *, force: bool, with_config: bool = True
) -> dict[str, Any]:
    """Bring an archive back into ``data_dir`` (and its configuration to ``config_file``;
    ``with_config=False``: leave the configuration file as it is)."""
    if (data_dir / DB_NAME).exists() and not force:
        raise StoreError(
            f"{data_dir} already holds a database: stop the daemon (systemctl stop zentrale) "
            "and restore with --force to replace it"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    owner = _owner_of(data_dir)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    try:
        manifest = read_archive(archive, staging)
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
