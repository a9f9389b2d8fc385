"""Batch ingestion: many inputs, each isolated, one atomic commit.

Every input runs behind a per-document boundary: any failure (bad bytes, a parser bug,
the time budget running out) becomes an ``errors`` row for that input and the batch goes
on. ``pipeline.isolation`` runs inputs in worker processes with a time budget and a memory
cap per input; ``ResultWriter`` streams results into one store transaction as they come
(``commit_results`` for a list), and the commit writes the batch as one snapshot.
``processed_inputs`` says which bytes this pipeline version has processed already, so a
re-run skips them.

Inputs are untrusted: only regular files are read (a FIFO or a device would hang or never
end), a symlink is followed only while its target stays inside the folder it was found in
(``symlink_outside_input``: an input folder must not reach ``/etc/shadow``), and no error
message quotes an input's bytes. Each check gives that input an ``errors`` row.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pipeline import PIPELINE_VERSION, faults
from pipeline.model import ErrorRecord, InputError, SourceResult
from pipeline.rawstore import RawStore
from pipeline.rows import error_rows, input_rows, partition_of, result_rows
from pipeline.settings import Settings, resolve
from pipeline.sniff import describe, sniff
from pipeline.storage import ObjectStore, Store, Transaction

INPUT_SUFFIXES = (".pdf", ".html", ".htm", ".md", ".markdown", ".shtml")
_GROWTH_STEP = 1 << 20  # bytes read at a time from a file that grew after it was measured


@dataclass(frozen=True)
class Candidate:
    """One input to read: ``path`` as named or found (what messages and rows call it), and
    ``root``, the resolved folder its bytes must come from (a symlink may not lead out)."""

    path: Path
    root: Path
    # a regular file the walk of its folder found, itself no symlink: it lies inside ``root`` by
    # construction (the walk enters no symlinked folder), so a re-run may skip it by its status
    # alone, without opening it
    plain: bool = False


def find_inputs(paths: Iterable[str | Path]) -> list[Candidate]:
    """Every input the paths name: files as given, and the input files inside given folders
    (sorted, recursive; a folder's README is documentation, not input).

    Nothing is left out quietly: a path that does not exist, a FIFO or a dangling symlink
    with an input's suffix are candidates too, and reading them gives their errors row. A
    path named here is held to its own folder (a shell glob over a hostile folder names its
    symlinks one by one). A symlinked folder inside a folder is not walked: its target is
    walked anyway when it lies inside, and when it lies outside it is a candidate that
    ``open_input`` refuses.
    """
    out: list[Candidate] = []
    for given in map(Path, paths):
        named = Path(os.path.abspath(given))
        root = _resolved(named.parent)
        if given.is_dir() and _resolved(named).is_relative_to(root):
            out += _folder_inputs(given, _resolved(named))
        else:
            out.append(Candidate(given, root))
    return out


def _resolved(path: Path) -> Path:
    try:
        return Path(os.path.realpath(path))
    except ValueError:  # a NUL byte: open_input reports it
        return path


def _folder_inputs(folder: Path, root: Path) -> list[Candidate]:
    found: list[tuple[tuple[str, ...], bool]] = []
    stack = [os.fspath(folder)]
    while stack:  # depth first, never into a symlinked folder; an unreadable folder is passed over, as os.walk does
        here = stack.pop()
        try:
            with os.scandir(here) as listing:
                entries = list(listing)
        except OSError:
            continue
        parts = Path(here).parts
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_symlink() and entry.is_dir():
                if not _inside(os.path.realpath(entry.path), root):
                    found.append(((*parts, entry.name), False))
            elif os.path.splitext(entry.name)[1].lower() in INPUT_SUFFIXES and not entry.name.upper().startswith("README"):
                found.append(((*parts, entry.name), entry.is_file(follow_symlinks=False)))
    # in path order (component by component, as paths compare), sorted as tuples: a folder of
    # 20,000 posts is walked on every run, and comparing Path objects is the slow part of it
    return [Candidate(Path(*name), root, plain) for name, plain in sorted(found)]


def discover_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """The paths of ``find_inputs``."""
    return [c.path for c in find_inputs(paths)]


@contextmanager
def open_input(path: str | Path, root: str | Path | None = None, max_bytes: int | None = None) -> Iterator[BinaryIO]:
    """Open an input for reading, or raise ``InputError`` (stage ``read``) saying why not.

    Only a regular file is opened (a FIFO would block, ``/dev/zero`` never ends), with
    ``O_NONBLOCK`` so that even a file swapped for a FIFO after the check cannot hang us;
    with ``root``, its resolved location (checked again on the open file) must lie inside
    ``root``. Messages name the path, never its bytes.
    """
    try:
        real = _real_path(os.fspath(path))
        if root is not None and not _inside(real, root):
            real = os.path.realpath(path)  # a remembered folder may have moved since: refuse on a fresh look only
            if not _inside(real, root):
                raise _outside(real, root)
        info = os.stat(path)
        _check_regular(info, max_bytes)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        what = "a dangling symlink (its target does not exist)" if os.path.islink(path) else "no such file"
        raise InputError("no_such_file", what, "read") from None
    except ValueError as exc:  # a NUL byte in the path
        raise InputError("bad_path", f"unusable path ({exc})", "read") from None
    except OSError as exc:
        raise InputError("unreadable_file", f"{type(exc).__name__}: {exc.strerror}", "read") from None
    with os.fdopen(fd, "rb") as fh:
        _check_regular(os.fstat(fd), max_bytes)  # what was opened, if it changed since the check
        if root is not None and not _inside(_opened_path(fd, real), root):
            _real_folder.cache_clear()  # it was remembered inside
            if not _inside(real := os.path.realpath(path), root):
                raise _outside(real, root)
            raise InputError("symlink_outside_input", "the file moved outside the input folder while it was opened", "read")
        yield fh


def _outside(real: str, root: str | Path) -> InputError:
    return InputError("symlink_outside_input", f"a symlink to {real} leads outside the input folder {root}: not followed",
                      "read")


def _real_path(path: str) -> str:
    """``os.path.realpath(path)``, the folder's part remembered: resolving a path walks it a
    component at a time in Python, which costs more than parsing a small page. A remembered
    folder may have changed since (a ``current`` symlink moved to a new release): an input is
    refused only on a fresh look, and one that the remembered folder placed inside is checked
    again on the open file (``_opened_path``)."""
    folder, name = os.path.split(path)
    if name in ("", ".", "..") or stat.S_ISLNK(os.lstat(path).st_mode):
        return os.path.realpath(path)
    return os.path.join(_real_folder(os.path.abspath(folder or os.curdir)), name)


@functools.lru_cache(maxsize=1024)
def _real_folder(folder: str) -> str:
    """``folder``: absolute (a relative one would mean another folder after a chdir)."""
    return os.path.realpath(folder)


def _inside(real: str, root: str | Path) -> bool:
    """Whether the resolved path ``real`` is ``root`` or lies below it (strings: a run checks every
    input twice, and pathlib's ``is_relative_to`` costs more than the open itself)."""
    root = os.fspath(root)
    return real == root or real.startswith(root if root.endswith(os.sep) else root + os.sep)


def _opened_path(fd: int, fallback: str) -> str:
    """Where the open file ``fd`` really is: the kernel's own answer (one readlink of
    /proc/self/fd, already resolved), else ``fallback`` where there is no /proc."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return fallback


def _check_regular(info: os.stat_result, max_bytes: int | None) -> None:
    if not stat.S_ISREG(info.st_mode):
        kinds = {stat.S_ISDIR: "a directory", stat.S_ISFIFO: "a FIFO (named pipe)", stat.S_ISCHR: "a character device",
                 stat.S_ISBLK: "a block device", stat.S_ISSOCK: "a socket"}
        kind = next((name for test, name in kinds.items() if test(info.st_mode)), "a special file")
        raise InputError("not_a_regular_file", f"{kind}, not a regular file: not read", "read")
    if max_bytes is not None and info.st_size > max_bytes:
        raise InputError("too_large", f"{info.st_size} bytes exceed max_file_bytes={max_bytes}", "read")


class _InputReads:
    """An open input whose read errors are the input's (``unreadable_file``), not the
    raw store's or the batch's."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh

    def read(self, size: int = -1) -> bytes:
        try:
            return self._fh.read(size)
        except OSError as exc:
            raise InputError("unreadable_file", f"{type(exc).__name__}: {exc.strerror}", "read") from None


def _read_all(fh: BinaryIO, max_bytes: int) -> bytes:
    """The file's bytes. A read is sized by the file, not by the limit: a buffered read
    allocates what it is asked for, and a parse process has its share of the budget only."""
    reads = _InputReads(fh)
    data = reads.read(min(os.fstat(fh.fileno()).st_size, max_bytes) + 1)
    while len(data) <= max_bytes and (more := reads.read(_GROWTH_STEP)):  # it grew since it was measured
        data += more
    if len(data) > max_bytes:
        raise InputError("too_large", f"more than max_file_bytes={max_bytes} bytes", "read")
    return data


def _pinned(fh: BinaryIO, path: str | Path) -> str | Path:
    """A name for the very file that was checked and read, for parsers that open by name:
    the path may be swapped for a symlink between the check and their open."""
    pinned = f"/proc/self/fd/{fh.fileno()}"
    return pinned if os.path.exists(pinned) else path


def store_raw(raw: RawStore, path: str | Path, root: str | Path | None, settings: Settings | None = None,
              source: str | None = None) -> tuple[str, Path] | SourceResult:
    """Copy an input into the raw store inside the per-input boundary: ``(sha256, blob)``,
    or this input's failed result (a refused input, an unreadable file, a full disk)."""
    settings = resolve(settings)
    source = source or str(path)
    try:
        with open_input(path, root, settings.max_file_bytes) as fh:
            return raw.put_stream(_InputReads(fh), max_bytes=settings.max_file_bytes)
    except InputError as exc:
        return failed_result(source, None, exc.stage, exc.reason, str(exc))
    except ValueError as exc:  # it grew past the limit while it was copied
        return failed_result(source, None, "read", "too_large", f"{exc}: max_file_bytes={settings.max_file_bytes}")
    except OSError as exc:
        return failed_result(source, None, "raw_store", "raw_store_failed", f"{type(exc).__name__}: {exc}")


def failed_result(source: str, sha: str | None, stage: str, error_type: str, message: str) -> SourceResult:
    unit = (sha or hashlib.sha256(source.encode()).hexdigest())[:16]
    result = SourceResult(source, sha or "", unit, "error")
    result.errors.append(ErrorRecord(source, stage, error_type, message, sha))
    return result


def process_source(path: str | Path, source: str | None = None, settings: Settings | None = None, *,
                   root: str | Path | None = None, **meta) -> SourceResult:
    """Parse one input file; never raises for a bad input (the error is in the result).
    With ``root``, the file must lie inside that folder (``open_input``)."""
    settings = resolve(settings)
    source = source or str(path)
    try:
        with open_input(path, root, settings.max_file_bytes) as fh:
            data = _read_all(fh, settings.max_file_bytes)
            return _parse(data, functools.partial(_pinned, fh, path), str(path).lower(), source, settings, meta)
    except InputError as exc:
        return failed_result(source, None, exc.stage, exc.reason, str(exc))


def _parse(data: bytes, opened: Callable[[], str | Path], name: str, source: str, settings: Settings,
           meta: dict) -> SourceResult:
    """``opened()``: a name for the file as it was opened, for the parsers that open it by name (PDF)."""
    # the stages are imported here, not at the top: the parse service's workers have them loaded
    # already, and a command that parses nothing itself (every run through the service, a
    # re-run that skips everything) need not load pdfplumber, PDFium and lxml to start
    from pipeline.process import process_html, process_pdf

    sha = hashlib.sha256(data).hexdigest()
    kind = sniff(data, name)
    try:
        faults.check("parse", source)
        if not data.strip():
            raise InputError("empty_file", "the file is empty", "read")
        if kind == "pdf":
            return process_pdf(opened(), source=source, raw_sha256=sha, settings=settings)
        if kind in ("html", "post"):
            return process_html(data, source=source, raw_sha256=sha, kind=kind, settings=settings, **meta)
        raise InputError("unsupported_type", f"neither PDF nor HTML ({describe(data)})", "sniff")
    except InputError as exc:
        return failed_result(source, sha, exc.stage, exc.reason, str(exc))
    except MemoryError:
        return failed_result(source, sha, "pipeline", "too_much_memory",
                             f"parsing needed more than its {settings.process_memory_mb()} MB share of the "
                             f"memory budget ({settings.memory_budget_mb} MB)")
    except Exception as exc:  # the per-document boundary: a parser bug must not stop the batch
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return failed_result(source, sha, "pipeline", type(exc).__name__, f"{exc} (at {Path(where.filename).name}:{where.lineno})")


# --- writing ----------------------------------------------------------------------------


# failures that may go better on another try: such inputs are parsed again by the next run
RETRIABLE = frozenset({"timeout", "worker_died"})


def processed_inputs(store: Store | ObjectStore) -> set[str]:
    """raw_sha256 of every input already processed by this PIPELINE_VERSION: stored, failed for
    good, or superseded by a later input of the same issue (a corrected issue stays)."""
    seen = store.read("inputs", columns=["raw_sha256", "pipeline_version", "error_type"])
    return {sha for sha, version, error in zip(*(seen.column(c).to_pylist() for c in seen.column_names), strict=True)
            if sha and version == PIPELINE_VERSION and error not in RETRIABLE}


class ResultWriter:
    """Writes results into a store transaction as they come: each input's rows replace its
    previous rows (the unit's parsed rows; the input location's ``errors`` and ``inputs`` rows).

    A result whose rows the schema refuses fails that input, not the batch: its old rows
    stay and the input gets an ``errors`` row (stage ``write``).
    """

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        tx.on_reject = self._refused
        # unit -> (source, raw_sha256, the transaction's flush count when added), until its rows are written
        self._unwritten: dict[str, tuple[str, str, int]] = {}
        self._flushes_seen = 0
        self.refused: list[ErrorRecord] = []  # inputs whose rows could not be written (each has an errors row)
        self._order: dict[str, int] = {}  # unit -> the input order of the result whose rows it holds

    def add(self, r: SourceResult, order: int | None = None) -> None:
        """``order``: the input's place in the run. Results come back as their parses end, in
        any order; of two inputs of one unit (an issue and its corrected reissue, one file
        under two names) the later input keeps the rows, however the parses finished."""
        if order is not None and self._order.get(r.unit_id, -1) > order:
            self._put_source(r)  # its inputs row; the unit keeps the later input's rows
            return
        if order is not None and r.kind != "error":
            self._order[r.unit_id] = order
        if r.kind != "error":
            try:
                rows = result_rows(r)
            except Exception as exc:  # rows the writer refuses fail this input, not the batch
                r = failed_result(r.source, r.raw_sha256, "write", type(exc).__name__, str(exc)[:300])
                self.refused += r.errors
            else:
                self._unwritten[r.unit_id] = (r.source, r.raw_sha256, self.tx.flushes)
                self.tx.put("unit_id", r.unit_id, partition_of(r), {k: v for k, v in rows.items() if k != "errors"})
        if r.kind == "error" or r.unit_id in self._unwritten:  # not refused by a flush during its own put
            self._put_source(r)
        if self._flushes_seen != self.tx.flushes:  # a flush wrote the rows of those added before it
            self._flushes_seen = self.tx.flushes
            self._unwritten = {u: v for u, v in self._unwritten.items() if v[2] == self.tx.flushes}

    def _put_source(self, r: SourceResult) -> None:
        self.tx.put("source", r.source, partition_of(r),
                    {"errors": error_rows(r.unit_id, r.errors), "inputs": input_rows(r)})

    def _refused(self, column: str, key: str, message: str) -> None:
        found = self._unwritten.pop(key, None) if column == "unit_id" else None
        if found is not None:
            source, sha, _ = found
            failed = failed_result(source, sha, "write", "rows_refused", message)
            self.refused += failed.errors
            self._put_source(failed)


def commit_results(store: Store | ObjectStore, results: Sequence[SourceResult], extra: dict | None = None) -> None:
    """Write all results as one snapshot: each input's rows replace its previous rows.
    ``extra``: log rows, ``{"runs": {run_id: table}, "fetches": {...}}``."""
    with store.transaction() as tx:
        writer = ResultWriter(tx)
        for r in results:
            writer.add(r)
        for name, by_key in (extra or {}).items():
            for table in by_key.values():
                tx.log(name, table)


@dataclass
class Summary:
    inputs: int = 0
    documents: int = 0
    chapters: int = 0
    sections: int = 0
    tables: int = 0
    removed: int = 0
    warnings: int = 0
    errors: list[ErrorRecord] = field(default_factory=list)

    def add(self, r: SourceResult) -> None:
        self.inputs += 1
        self.errors += r.errors
        self.removed += len(r.removed)
        self.warnings += len(r.warnings) + sum(len(d.warnings) for d in r.documents)
        for d in r.documents:
            self.documents += 1
            self.chapters += sum(1 for s in d.sections if s.level == "chapter")
            self.sections += sum(1 for s in d.sections if s.level != "front")
            self.tables += len(d.tables)

    def counts(self) -> dict[str, int]:
        return {"documents": self.documents, "sections": self.sections, "tables": self.tables, "removed": self.removed,
                "warnings": self.warnings, "errors": len(self.errors)}

    def line(self) -> str:
        return (f"{self.inputs} inputs: {self.documents} documents, {self.chapters} chapters, {self.sections} sections, "
                f"{self.tables} tables, {self.removed} removed lines, {self.warnings} warnings, {len(self.errors)} errors")
