"""Where the IMDB reviews come from: the official download, a local archive or an extracted folder.

This module fetches and verifies the source and hands back an extracted ``aclImdb/`` folder; encoding,
caching and splitting are :mod:`rnn_lightning.data.datamodule`'s job.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from rnn_lightning.data.archive import safe_extract
from rnn_lightning.data.download import DownloadError, download, file_digest

OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
# Published checksums of known downloads; a download of one of these URLs must match before it is used.
KNOWN_MD5 = {OFFICIAL_URL: "7c2ac02c03563afcf9b574c7e56c153a"}
SPLITS = ("train", "test")
LABEL_FOLDERS = {"neg": 0, "pos": 1}  # aclImdb's label folders and the class each holds
CLASS_NAMES = ("negative", "positive")  # class 0 and class 1, as predictions name them
LOCAL_HINT = "pass --data-source or set IMDB_SOURCE to a local aclImdb_v1.tar.gz or extracted aclImdb/ folder"


def is_url(source: str) -> bool:
    return urlparse(source).scheme in ("http", "https", "ftp", "file")


def is_labeled_review(path: PurePosixPath) -> bool:
    """Whether an archive member is one of the labelled reviews: ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``.

    The unlabelled reviews and the ``.feat`` files are not needed, so they are never written.
    """
    parts = path.parts
    return len(parts) == 4 and parts[1] in SPLITS and parts[2] in LABEL_FOLDERS and parts[3].endswith(".txt")


def iter_split(root: Path, split: str) -> Iterator[tuple[str, int]]:
    """Stream one split of an extracted ``aclImdb/`` folder as ``(text, label)``, negatives then positives.

    Files come in name order.

    Raises:
        FileNotFoundError: If the folder lacks the official ``{split}/{neg,pos}`` layout (before any row).
    """
    files = {}
    for name in LABEL_FOLDERS:
        folder = root / split / name
        files[name] = sorted(folder.glob("*.txt")) if folder.is_dir() else []
        if not files[name]:
            raise FileNotFoundError(f"{root} is not an aclImdb folder: no reviews in {split}/{name}/")
    for name, label in LABEL_FOLDERS.items():
        for file in files[name]:
            yield file.read_text(encoding="utf-8"), label


def short_digest(value: object) -> str:
    """First 16 hex digits of the SHA-256 of a JSON-serialisable value: a stable name for derived files."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


class IMDBSource:
    """One IMDB source, resolved to an extracted ``aclImdb/`` folder on demand, read as labelled rows.

    Args:
        source: Archive URL, local ``.tar.gz`` or extracted ``aclImdb/`` folder.
        data_dir: Where downloads and extractions go.
        offline: Never download: a URL source must have been downloaded before.
    """

    splits = SPLITS
    label_names = CLASS_NAMES

    def __init__(self, source: str, data_dir: str | Path, offline: bool = False) -> None:
        self.source = str(source)
        self.data_dir = Path(data_dir)
        self.offline = offline

    def rows(self, split: str, skipped: Counter[str] | None = None) -> Iterator[tuple[str, int]]:
        """Stream one split as ``(text, label)`` (0 negative, 1 positive); the official reviews have no bad rows."""
        yield from iter_split(self.extracted_folder(), split)

    @functools.cached_property
    def identity(self) -> str:
        """What the reviews depend on, without extracting anything (an archive is hashed once per instance).

        Raises:
            FileNotFoundError: If the source is neither a URL nor an existing archive or folder.
        """
        if is_url(self.source):
            return f"url:{self.source}"
        path = Path(self.source).expanduser().resolve()
        if path.is_dir():
            return f"folder:{path}"
        if path.is_file():
            return f"archive-sha256:{file_digest(path)}"
        raise FileNotFoundError(f"IMDB source {self.source!r} is neither a URL nor an existing archive or folder")

    def extracted_folder(self) -> Path:
        """Return an extracted ``aclImdb/`` folder, downloading and extracting when needed.

        Raises:
            FileNotFoundError: Offline with nothing downloaded yet.
            DownloadError: If the download failed or did not match its published checksum.
            UnsafeArchiveError: If the archive holds anything hostile; nothing is written then.
        """
        if not is_url(self.source) and Path(self.source).expanduser().is_dir():
            return Path(self.source).expanduser()
        destination = self.data_dir / f"extracted-{short_digest(self.identity)}"
        if (destination / "aclImdb").is_dir():  # only ever created by an atomic rename of a full extraction
            return destination / "aclImdb"
        archive = self.fetch_archive() if is_url(self.source) else Path(self.source).expanduser()
        return safe_extract(archive, destination, keep=is_labeled_review)

    def download_target(self) -> Path:
        return self.data_dir / (Path(urlparse(self.source).path).name or "aclImdb_v1.tar.gz")

    def fetch_archive(self) -> Path:
        """The downloaded archive: reused when already there (and matching its checksum), else downloaded."""
        target = self.download_target()
        md5 = KNOWN_MD5.get(self.source)
        if target.is_file() and (md5 is None or file_digest(target, "md5") == md5):
            return target
        if self.offline:
            raise FileNotFoundError(f"offline (IMDB_OFFLINE or --data.offline) and {target} is not downloaded: "
                                    f"{LOCAL_HINT}")
        try:
            return download(self.source, target, md5)
        except DownloadError as error:
            raise DownloadError(f"{error} (offline? {LOCAL_HINT})") from error
