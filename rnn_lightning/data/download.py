"""Download a file so that only complete, verified bytes are ever published under the target name."""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from rnn_lightning.fileio import atomic_write

_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download failed for good: the target file was left as it was."""


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks so large archives never sit in memory."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    target: str | Path,
    md5: str | None = None,
    *,
    retries: int = 3,
    timeout: float = 30.0,
    backoff: float = 2.0,
) -> Path:
    """Fetch ``url`` into ``target`` atomically: a temp file beside it, checksum verified, then a rename.

    Args:
        url: Where to fetch from.
        target: Final path; never holds partial or unverified bytes, and an older good copy stays
            untouched until a new one has been verified.
        md5: Expected MD5 hex digest, or None to skip the check.
        retries: Attempts in all, with exponential backoff between them.
        timeout: Seconds a stalled connection may stay silent before the attempt is abandoned.
        backoff: Seconds before the second attempt, doubling after each failure.

    Returns:
        ``target`` as a Path.

    Raises:
        DownloadError: If every attempt failed; the message carries the last reason (for a checksum
            mismatch, the expected and actual digests).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    last_error = "no attempt made"
    for attempt in range(1, max(retries, 1) + 1):
        try:
            _fetch_once(url, target, md5, timeout)
            return target
        except (OSError, urllib.error.URLError, http.client.HTTPException, _BadTransfer) as error:
            last_error = str(error)
        if attempt < retries:
            time.sleep(backoff * 2 ** (attempt - 1))
    raise DownloadError(f"could not download {url} after {retries} attempt(s): {last_error}")


class _BadTransfer(Exception):
    """One attempt delivered bytes that must not be published."""


def _fetch_once(url: str, target: Path, md5: str | None, timeout: float) -> None:
    digest = hashlib.md5()
    received = 0
    with atomic_write(target) as out, urllib.request.urlopen(url, timeout=timeout) as response:
        expected_size = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=expected_size, unit="B", unit_scale=True, desc=f"downloading {target.name}") as bar:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        # Raising here, inside atomic_write, discards the temp file and leaves the target as it was.
        if expected_size is not None and received != expected_size:
            raise _BadTransfer(f"truncated transfer: got {received} of {expected_size} bytes")
        if md5 is not None and digest.hexdigest() != md5.lower():
            raise _BadTransfer(f"checksum mismatch: expected md5 {md5.lower()}, got {digest.hexdigest()}")
