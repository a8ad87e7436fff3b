"""Restore archives are checked as they stream, before anything is written: real archives
(tar, tar.gz) built here, each breaking one rule."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from zentrale.errors import StoreError
from zentrale.store.backup import TOP, ArchiveRefused, RestoreLimits, check_stream, read_archive


def manifest_for(contents: dict[str, bytes], **changes: object) -> dict[str, object]:
    manifest: dict[str, object] = {
        "format": 1,
        "zentrale": "test",
        "created_at": "2026-01-01T00:00:00+00:00",
        "counts": {"modes": 0, "prompts": 0, "messages": 0},
        "missing_messages": [],
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()},
    }
    manifest.update(changes)
    return manifest


def archive(files: dict[str, bytes], manifest: object = None, *, gz: bool = True, manifest_first: bool = True) -> bytes:
    """A backup archive as ``zentrale backup`` writes it (or broken as asked)."""
    out = io.BytesIO()
    blob = json.dumps(manifest if manifest is not None else manifest_for(files)).encode()
    entries = [("MANIFEST.json", blob), *files.items()]
    if not manifest_first:
        entries.reverse()
    with tarfile.open(fileobj=out, mode="w:gz" if gz else "w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(f"{TOP}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


FILES = {"zentrale.db": b"SQLite format 3\0" + bytes(5000), "modes/hotline.yaml": b"name: Hotline\n"}


def check(data: bytes, limits: RestoreLimits | None = None) -> dict[str, object]:
    return check_stream(io.BytesIO(data), limits or RestoreLimits())


@pytest.mark.parametrize("gz", [True, False])
def test_a_good_archive_is_checked_without_writing_and_unpacked_with_the_same_checks(tmp_path: Path, gz: bool) -> None:
    data = archive(FILES, gz=gz)
    assert check(data)["unpacked_bytes"] >= sum(len(v) for v in FILES.values())
    path = tmp_path / "b.tar"
    path.write_bytes(data)
    staging = tmp_path / "staging"
    read_archive(path, staging)
    assert (staging / "modes" / "hotline.yaml").read_bytes() == FILES["modes/hotline.yaml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar", "staging"]


def test_an_archive_inflating_more_than_twenty_times_its_size_is_refused_early() -> None:
    big = {"zentrale.db": bytes(300_000_000)}  # 300 MB of zeros: ~300 KB compressed
    limits = RestoreLimits(ratio_allowance=1_000_000)
    data = archive(big, manifest_for({"zentrale.db": b""}))
    with pytest.raises(ArchiveRefused) as err:
        check(data, limits)
    assert "more than 20 times its size" in str(err.value)


def test_sizes_declared_in_the_headers_are_refused_before_the_data_is_read() -> None:
    with pytest.raises(ArchiveRefused) as err:
        check(archive(FILES), RestoreLimits(max_total_bytes=3000))
    assert "unpacks to more than" in str(err.value)
    with pytest.raises(ArchiveRefused) as err:
        check(archive(FILES), RestoreLimits(max_file_bytes=1000))
    assert "zentrale.db is" in str(err.value)


def test_a_huge_manifest_is_refused_by_its_size() -> None:
    manifest = manifest_for(FILES, padding="x" * 200_000)
    with pytest.raises(ArchiveRefused) as err:
        check(archive(FILES, manifest), RestoreLimits(max_manifest_bytes=100_000))
    assert "MANIFEST.json is 0.2 MB, at most 0.1 MB" in str(err.value)


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        ([1, 2, 3], "no Zentrale backup manifest"),
        ({"format": 2}, "no Zentrale backup manifest of format 1"),
        (manifest_for(FILES, files={"../../etc/passwd": "0" * 64}), "lists files a backup cannot hold"),
        (manifest_for(FILES, files={"/abs": "0" * 64}), "lists files a backup cannot hold"),
        (manifest_for(FILES, files={"other/x": "0" * 64}), "lists files a backup cannot hold"),
        (manifest_for(FILES, files=["zentrale.db"]), "lists files a backup cannot hold"),
        (manifest_for(FILES, counts=None), "has no counts"),
        (manifest_for(FILES, created_at=5), "has no creation time"),
        (json.loads("[" * 50 + "]" * 50), "no Zentrale backup manifest"),
    ],
)
def test_a_manifest_that_is_not_ours_is_refused_with_a_reason_not_a_key_error(manifest: object, problem: str) -> None:
    with pytest.raises(ArchiveRefused) as err:
        check(archive(FILES, manifest))
    assert problem in str(err.value)


def test_a_deeply_nested_manifest_is_refused() -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        blob = b"[" * 100_000 + b"]" * 100_000
        info = tarfile.TarInfo(f"{TOP}/MANIFEST.json")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    with pytest.raises(ArchiveRefused) as err:
        check(out.getvalue())
    assert "not valid JSON" in str(err.value)


def test_files_not_in_the_manifest_missing_or_damaged_are_refused() -> None:
    with pytest.raises(ArchiveRefused, match="files not in the manifest"):
        check(archive({**FILES, "prompts/extra.wav": b"RIFF"}, manifest_for(FILES)))
    with pytest.raises(ArchiveRefused, match=r"modes/hotline\.yaml is missing or damaged"):
        check(archive({"zentrale.db": FILES["zentrale.db"]}, manifest_for(FILES)))
    damaged = {**FILES, "zentrale.db": b"something else"}
    with pytest.raises(ArchiveRefused, match=r"zentrale\.db is missing or damaged"):
        check(archive(damaged, manifest_for(FILES)))
    with pytest.raises(ArchiveRefused, match="no Zentrale backup manifest at its start"):
        check(archive(FILES, manifest_first=False))


def test_a_member_outside_the_backup_folder_is_refused() -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        blob = json.dumps(manifest_for(FILES)).encode()
        for name, data in [(f"{TOP}/MANIFEST.json", blob), ("../evil.sh", b"rm -rf /")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ArchiveRefused, match="is not a file a backup holds"):
        check(out.getvalue())


def test_a_pax_header_bomb_is_refused_before_tar_reads_it_into_memory() -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"{TOP}/MANIFEST.json")
        info.pax_headers = {"comment": "x" * 5_000_000}  # tar keeps a pax header in memory whole
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(ArchiveRefused, match="an extended tar header of"):
        check(out.getvalue())


def test_a_truncated_upload_and_junk_are_refused_as_unreadable() -> None:
    data = archive(FILES)
    with pytest.raises(StoreError, match=r"truncated|not a readable backup archive"):
        check(data[: len(data) // 2])
    with pytest.raises(StoreError, match="not a readable backup archive"):
        check(b"this is not an archive at all" * 100)
    with pytest.raises(StoreError, match=r"not a readable backup archive|no Zentrale backup manifest"):
        check(b"")
