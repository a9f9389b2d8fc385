"""The sha256 of local input files, remembered by their file status, so a re-run need not read
every input to find that nothing changed.

``gazette ingest`` skips an input whose bytes this pipeline version has processed (the
``inputs`` dataset holds their sha256). Finding the sha256 means reading the file: for 20,000
small pages that is most of a run that has nothing to do. A file whose path, size,
modification time, inode and status-change time are all as they were when its sha256 was
computed has the same bytes (``git`` and ``rsync`` trust the same signals), so its sha256 is
taken from here. A file modified within ``RACY_S`` of the moment its entry was saved is not
trusted (its next modification could leave every signal equal: the filesystem's clock ticks
no faster than that), and it is read again next time.

The cache is one JSON file in the output's ``.gazette`` folder, written whole at the end of a
run (a killed run leaves the previous one). It is a cache: a missing or unreadable file, or an
entry that does not match, only means the file is read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

RACY_S = 2.0  # coarser than any filesystem's modification-time resolution in use (FAT: 2 s)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _signature(status: os.stat_result) -> list[int]:
    return [status.st_size, status.st_mtime_ns, status.st_ino, status.st_ctime_ns]


class HashCache:
    """``sha256(path)``: from the cache when the file's status is unchanged, else read (and
    remembered); ``before_parse(path)`` + ``parsed(path, sha)``: what a parse read, remembered
    with the file's status taken before it was read (a file changed meanwhile then no longer
    matches, and is read again next time)."""

    def __init__(self, location: Path | None) -> None:
        self.location = location
        self.entries: dict[str, list] = {}
        if location is not None:
            try:
                self.entries = json.loads(location.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.entries = {}
        self.read = 0  # files read this run (the rest came from the cache)
        self._before: dict[str, list[int]] = {}

    def known(self, path: Path) -> str | None:
        """The remembered sha256 when the file's status is unchanged; None (nothing read) else."""
        try:
            return self._remembered(os.path.abspath(path), os.stat(path))
        except OSError:
            return None

    def sha256(self, path: Path) -> str:
        key = os.path.abspath(path)  # (not resolve(): a symlink walk per file costs more than the read saved)
        status = os.stat(path)
        if (sha := self._remembered(key, status)) is not None:
            return sha
        sha = sha256_file(path)
        self.read += 1
        self.entries[key] = [*_signature(status), sha]
        return sha

    def _remembered(self, key: str, status: os.stat_result) -> str | None:
        entry = self.entries.get(key)
        return entry[4] if entry is not None and entry[:4] == _signature(status) else None

    def before_parse(self, path: Path) -> None:
        with contextlib.suppress(OSError):  # no file to remember (a dangling link): its parse says so
            self._before[os.path.abspath(path)] = _signature(os.stat(path))

    def parsed(self, path: str | Path, sha: str) -> None:
        key = os.path.abspath(path)
        signature = self._before.pop(key, None)
        if signature is not None and sha:
            self.entries[key] = [*signature, sha]

    def save(self) -> None:
        if self.location is None:
            return
        settled = time.time_ns() - int(RACY_S * 1e9)
        keep = {k: v for k, v in self.entries.items() if v[1] < settled}
        tmp = self.location.with_name(f".{self.location.name}.tmp")
        try:
            self.location.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(keep, separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, self.location)
        except OSError:
            tmp.unlink(missing_ok=True)  # a cache that cannot be written costs only the next run's reads
