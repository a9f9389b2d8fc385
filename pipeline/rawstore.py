"""Immutable, content-addressed store of raw downloads, and the manifest of fetches.

Blobs live at ``root/<sha256[:2]>/<sha256>.<ext>``. The extension is sniffed from the
bytes (and the server's Content-Type), never taken from a URL, so a hostile URL path
cannot steer where a file lands. A blob is written to a temp file and linked into
place, so readers never see a partial file and an existing blob is never overwritten; a
copy that fails removes its temp file. Blobs are created read-only through the process
umask (``BLOB_MODE``), so a store never makes bytes more readable than the operator's
umask allows.

``FetchResult`` is defined here rather than in ``pipeline.fetch`` because the manifest
stores it and ``fetch`` imports this module; ``pipeline.fetch`` re-exports it.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.schema import FETCHES  # the fetch log's one schema
from pipeline.sniff import sniff

EXTS = ("pdf", "html", "md", "bin")
# requested mode of a new blob: read-only (the store is immutable); the umask takes away the
# rest, so with umask 077 a copied secret stays 0400 and never becomes world-readable
BLOB_MODE = 0o444
_COPY_CHUNK = 1 << 20  # bytes read per step when copying a file in
_SHA256 = re.compile(r"[0-9a-f]{64}")



def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of fetching one URL; also one row of the fetch manifest.

    Exactly one of these holds: ``sha256`` is set (stored or not modified), ``error`` is
    set (network/HTTP/integrity problem after retries), or ``refused`` is set (the URL
    policy stopped it before any request).
    """

    url: str
    final_url: str | None = None
    status: int | None = None
    sha256: str | None = None
    path: Path | None = None  # not persisted: derive it from the store
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    bytes: int = 0  # size of the stored blob
    fetched_at: datetime = field(default_factory=_utcnow)
    not_modified: bool = False
    error: str | None = None
    refused: str | None = None

    @property
    def ok(self) -> bool:
        return self.sha256 is not None and self.error is None and self.refused is None


def media_type(content_type: str | None) -> str:
    """``text/html; charset=gbk`` -> ``text/html``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def sniff_ext(head: bytes, content_type: str | None = None) -> str:
    """Extension for a blob from its first bytes (``pipeline.sniff``), then its Content-Type."""
    kind = sniff(head)
    if kind == "pdf":
        return "pdf"
    mime = media_type(content_type)
    if mime in ("text/html", "application/xhtml+xml") or kind == "html":
        return "html"
    if mime in ("text/markdown", "text/x-markdown") or kind == "post":
        return "md"
    return "bin"


def _check_sha(sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a lowercase hex sha256: {sha256!r}")
    return sha256


class RawStore:
    """Content-addressed blob store rooted at ``root``; safe to share between threads."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def tmp_dir(self) -> Path:
        """Scratch dir on the same filesystem, so finished downloads move in atomically."""
        path = self.root / ".tmp"
        path.mkdir(exist_ok=True)
        return path

    def path_for(self, sha256: str) -> Path | None:
        """Where the blob with this hash is stored, or None when it is not."""
        _check_sha(sha256)
        folder = self.root / sha256[:2]
        for ext in EXTS:
            path = folder / f"{sha256}.{ext}"
            if path.exists():
                return path
        return None

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256) is not None

    def open(self, sha256: str) -> BinaryIO:
        path = self.path_for(sha256)
        if path is None:
            raise FileNotFoundError(f"no blob {sha256}")
        return path.open("rb")

    def read(self, sha256: str) -> bytes:
        with self.open(sha256) as fh:
            return fh.read()

    def iter_blobs(self) -> Iterator[Path]:
        for path in sorted(self.root.glob("??/*")):
            if path.suffix[1:] in EXTS and _SHA256.fullmatch(path.stem):
                yield path

    def put_bytes(self, data: bytes, ext: str | None = None) -> tuple[str, Path]:
        """Store ``data``; ``ext`` defaults to the sniffed one. Returns (sha256, path)."""
        ext = ext or sniff_ext(data)
        self._check_ext(ext)
        sha256 = hashlib.sha256(data).hexdigest()
        existing = self.path_for(sha256)
        if existing is not None:
            return sha256, existing
        fd, tmp = self.new_temp()
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            return sha256, self._install(tmp, self._final(sha256, ext))
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, path: str | os.PathLike[str], ext: str | None = None) -> tuple[str, Path]:
        """Copy a file into the store (the source is left alone). Returns (sha256, path).

        It opens ``path`` as it is: callers holding untrusted paths open them with
        ``pipeline.ingest.open_input`` (regular files inside the input folder only) and
        use ``put_stream``."""
        with open(path, "rb") as fh:
            return self.put_stream(fh, ext)

    def put_stream(self, source: BinaryIO, ext: str | None = None, max_bytes: int | None = None) -> tuple[str, Path]:
        """Copy an open file into the store, hashing as it goes. Returns (sha256, path).

        Any ``OSError`` (a full disk, an unreadable source) and a source over ``max_bytes``
        (``ValueError``) leave no temp file behind."""
        digest, head, size = hashlib.sha256(), b"", 0
        fd, tmp = self.new_temp()
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(_COPY_CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise ValueError(f"more than {max_bytes} bytes")
                    head = head or chunk[:1024]
                    digest.update(chunk)
                    out.write(chunk)
            return digest.hexdigest(), self.adopt(tmp, digest.hexdigest(), ext or sniff_ext(head))
        finally:
            tmp.unlink(missing_ok=True)

    def new_temp(self, suffix: str = ".part") -> tuple[int, Path]:
        """A new, empty temp file under ``tmp_dir``, opened for writing: (fd, path).

        Created with ``BLOB_MODE`` through the umask (not ``mkstemp``'s 0600 widened
        later), so the finished blob keeps the mode it was created with."""
        folder = self.tmp_dir
        for _ in range(100):
            path = folder / f".{secrets.token_hex(8)}{suffix}"
            try:
                return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, BLOB_MODE), path
            except FileExistsError:
                continue
        raise FileExistsError(f"no free temp name in {folder}")

    def adopt(self, tmp: Path, sha256: str, ext: str) -> Path:
        """Move a finished temp file (written under ``tmp_dir``, hash known) into place."""
        _check_sha(sha256)
        self._check_ext(ext)
        existing = self.path_for(sha256)
        if existing is not None:
            tmp.unlink(missing_ok=True)
            return existing
        return self._install(tmp, self._final(sha256, ext))

    def _final(self, sha256: str, ext: str) -> Path:
        folder = self.root / _check_sha(sha256)[:2]
        folder.mkdir(exist_ok=True)
        return folder / f"{sha256}.{ext}"

    @staticmethod
    def _check_ext(ext: str) -> None:
        if ext not in EXTS:
            raise ValueError(f"extension must be one of {EXTS}, got {ext!r}")

    @staticmethod
    def _install(tmp: Path, final: Path) -> Path:
        try:
            # a hard link never replaces an existing file, unlike os.replace
            os.link(tmp, final)
        except FileExistsError:
            pass  # another thread stored the same bytes first
        except OSError:
            if not final.exists():  # filesystem without hard links
                os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return final


class FetchManifest:
    """Every fetch attempt's outcome, in order; thread-safe; persisted as Parquet."""

    def __init__(self, records: Iterable[FetchResult] = ()) -> None:
        self._lock = threading.Lock()
        self._records: list[FetchResult] = []
        self._latest_ok: dict[str, FetchResult] = {}
        self._latest_any: dict[str, FetchResult] = {}
        for record in records:
            self.add(record)
        self._saved = len(self._records)

    @property
    def changed(self) -> bool:
        """Whether records were added since it was loaded (else there is nothing to write)."""
        return len(self._records) != self._saved

    def add(self, result: FetchResult) -> None:
        with self._lock:
            self._records.append(result)
            self._bump(self._latest_any, result)
            if result.ok:
                self._bump(self._latest_ok, result)

    @staticmethod
    def _bump(index: dict[str, FetchResult], result: FetchResult) -> None:
        current = index.get(result.url)
        if current is None or result.fetched_at >= current.fetched_at:
            index[result.url] = result

    def latest(self, url: str, *, successful: bool = True) -> FetchResult | None:
        """The newest record for ``url``; by default the newest one that has a blob,
        which is what a conditional GET needs."""
        with self._lock:
            return (self._latest_ok if successful else self._latest_any).get(url)

    @property
    def records(self) -> list[FetchResult]:
        with self._lock:
            return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[FetchResult]:
        return iter(self.records)

    def to_table(self, new_only: bool = False) -> pa.Table:
        """All records, or (``new_only``) those added since it was loaded: a run's part of the log."""
        records = self.records[self._saved:] if new_only else self.records
        rows = [
            {
                "url": r.url,
                "final_url": r.final_url,
                "sha256": r.sha256,
                "http_status": r.status,
                "etag": r.etag,
                "last_modified": r.last_modified,
                "content_type": r.content_type,
                "bytes": r.bytes,
                "fetched_at": r.fetched_at,
                "not_modified": r.not_modified,
                "error": r.error,
                "refused": r.refused,
            }
            for r in records
        ]
        return pa.Table.from_pylist(rows, schema=FETCHES)

    @classmethod
    def from_table(cls, table: pa.Table) -> FetchManifest:
        records = [
            FetchResult(
                url=row["url"],
                final_url=row["final_url"],
                status=row["http_status"],
                sha256=row["sha256"],
                etag=row["etag"],
                last_modified=row["last_modified"],
                content_type=row["content_type"],
                bytes=row["bytes"] or 0,
                fetched_at=row["fetched_at"],
                not_modified=bool(row["not_modified"]),
                error=row["error"],
                refused=row["refused"],
            )
            for row in table.to_pylist()
        ]
        return cls(records)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FetchManifest:
        """Read a Parquet file or a directory of them; a missing path is an empty manifest."""
        path = Path(path)
        if not path.exists() or (path.is_dir() and not any(path.glob("**/*.parquet"))):
            return cls()
        table = pq.read_table(path, schema=FETCHES) if path.is_dir() else pq.read_table(path)
        return cls.from_table(table.cast(FETCHES))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the whole manifest to one Parquet file, atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            pq.write_table(self.to_table(), tmp)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return path
