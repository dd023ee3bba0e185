"""Safe extraction of the IMDB archive, independent of the Python patch level's ``tarfile`` filters.

Every member is checked before a single byte is written: only regular files and folders below the
archive's top folder are accepted, and caps on member count and total size stop archive bombs. Files
are then written by this module itself (never by ``tarfile.extract``) into a temp folder beside the
destination, which is renamed into place only when complete.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

MAX_MEMBERS = 300_000
MAX_TOTAL_BYTES = 2 << 30  # the official archive unpacks to well under 1 GiB


class UnsafeArchiveError(ValueError):
    """The archive holds something that must not be extracted; nothing was written outside the temp folder."""


def _check_member(member: tarfile.TarInfo, top: str) -> PurePosixPath:
    path = PurePosixPath(member.name)
    if path.is_absolute() or member.name.startswith(("/", "\\")) or ":" in path.parts[0]:
        raise UnsafeArchiveError(f"absolute path in archive: {member.name!r}")
    if ".." in path.parts or "\\" in member.name:
        raise UnsafeArchiveError(f"path escaping the archive: {member.name!r}")
    # Comparing whole path parts (not string prefixes) refuses siblings such as "aclImdb_evil/x".
    if not path.parts or path.parts[0] != top:
        raise UnsafeArchiveError(f"member outside {top}/: {member.name!r}")
    if not (member.isreg() or member.isdir()):
        raise UnsafeArchiveError(f"not a regular file or folder: {member.name!r} (type {member.type!r})")
    return path


def safe_extract(
    archive: str | Path,
    destination: str | Path,
    *,
    top: str = "aclImdb",
    keep: Callable[[PurePosixPath], bool] = lambda path: True,
    max_members: int = MAX_MEMBERS,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> Path:
    """Extract ``archive`` (a tar, optionally compressed) to ``destination/top`` after checking every member.

    Args:
        archive: The tar file.
        destination: Folder that receives ``top/``; an existing ``top/`` is replaced only on success.
        top: The one folder every member must live under.
        keep: Which checked files to write (all of them by default); the rest are checked, not written.
        max_members: Refuse archives with more members than this.
        max_total_bytes: Refuse archives whose regular files add up to more than this.

    Returns:
        The extracted ``destination/top`` folder.

    Raises:
        UnsafeArchiveError: On any hostile or oversized content, before anything is written.
        tarfile.TarError: If the archive is corrupt or truncated; the destination is left as it was.
    """
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        members, total = [], 0
        # Every member counts towards the cap, kept or not, files or folders: a flood of members that are
        # checked and skipped costs as much memory and time as kept ones.
        for count, member in enumerate(tar, 1):
            if count > max_members:
                raise UnsafeArchiveError(f"archive has more than {max_members} members")
            path = _check_member(member, top)
            total += member.size if member.isreg() else 0
            if total > max_total_bytes:
                raise UnsafeArchiveError(f"archive unpacks to more than {max_total_bytes} bytes")
            if member.isreg() and keep(path):
                members.append((member, path))

        staging = Path(tempfile.mkdtemp(prefix=f".{top}.", suffix=".extracting", dir=destination))
        try:
            for member, path in members:
                out_path = staging.joinpath(*path.parts)
                out_path.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:  # cannot happen for a checked regular file, but never write blindly
                    raise UnsafeArchiveError(f"cannot read {member.name!r}")
                with source, open(out_path, "xb") as out:
                    shutil.copyfileobj(source, out)
            (staging / top).mkdir(exist_ok=True)
            final = destination / top
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging / top, final)
            return final
        finally:
            shutil.rmtree(staging, ignore_errors=True)
