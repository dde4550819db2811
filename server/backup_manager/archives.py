"""Archives of folders (files, logs), and their safe extraction."""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from server.backup_manager.errors import UnsafeArchive
from server.backup_manager.streams import WrittenFile, stored_file


def write_archive(
    folder: Path,
    name: str,
    sources: list[tuple[Path, str]],
    *,
    secret: str,
    part: str,
    streams: Iterable[tuple[tarfile.TarInfo, Any]] = (),
    skip: Callable[[tarfile.TarInfo], bool] | None = None,
) -> tuple[WrittenFile, int]:
    """A gzipped tar of the given folders (links are left out: they could point anywhere),
    then of `streams`: (header, readable body) pairs copied in as they are read, one at a
    time. `skip` leaves out files of the folders it returns True for."""
    entries = 0

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        nonlocal entries
        if not (info.isfile() or info.isdir()) or (skip is not None and skip(info)):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        entries += 1
        return info

    with stored_file(folder / name, secret) as (writer, hasher, plain):
        with tarfile.open(fileobj=writer, mode="w|gz") as tar:
            for source, arcname in sources:
                if source.is_dir():
                    tar.add(source, arcname=arcname, filter=keep)
            for info, body in streams:
                tar.addfile(info, body)
                entries += 1
    entry = WrittenFile(name, part, hasher.bytes, hasher.sha256.hexdigest(), plain[0], "tar.gz")
    return entry, entries


def check_archive_members(members: Iterable[tarfile.TarInfo]) -> list[tarfile.TarInfo]:
    """Refuse an archive with an absolute path, `..`, a link or a device; returns the members."""
    checked = []
    for member in members:
        path = PurePosixPath(member.name)
        if path.is_absolute() or member.name.startswith(("/", "\\")) or ".." in path.parts:
            raise UnsafeArchive(f"archive member {member.name!r} points outside the target")
        if not (member.isfile() or member.isdir()):
            raise UnsafeArchive(f"archive member {member.name!r} is a link or special file")
        checked.append(member)
    return checked


def extract_archive(archive: Path, destination: Path) -> int:
    """Extract a (plain) tar archive into `destination` after checking every member."""
    with tarfile.open(archive, mode="r:*") as tar:
        members = check_archive_members(tar.getmembers())
        destination.mkdir(parents=True, exist_ok=True)
        # The `data` filter (PEP 706) is the second line of defence.
        tar.extractall(destination, members=members, filter="data")
    return len(members)
