"""Batch ingestion: many inputs, each isolated, one atomic commit.

Every input runs behind a per-document boundary: any failure (bad bytes, a parser bug,
the time budget running out) becomes an ``errors`` row for that input and the batch goes
on. ``pipeline.isolation`` runs inputs in worker processes with a time budget and a memory
cap per input; ``ResultWriter`` streams results into one store transaction as they come
(``commit_results`` for a list), and the commit writes the batch as one snapshot.
``processed_inputs`` says which bytes this pipeline version has processed already, so a
re-run skips them.
"""

from __future__ import annotations

import hashlib
import os
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline import PIPELINE_VERSION, faults
from pipeline.model import Block, BlockKind, Document, ErrorRecord, SourceResult
from pipeline.rows import error_rows, input_rows, partition_of, result_rows
from pipeline.settings import Settings, resolve
from pipeline.storage import ObjectStore, Store, Transaction

# The parsing stages (pdfplumber, pypdfium2, lxml, ...) are imported by the functions that
# parse: a run whose inputs are all stored already never loads them (a third of a second).

INPUT_SUFFIXES = (".pdf", ".html", ".htm", ".md", ".markdown", ".shtml")


def discover_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files given, plus the input files inside given directories (sorted, recursive; a
    folder's README is documentation, not input)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted((f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in INPUT_SUFFIXES
                           and not f.name.upper().startswith("README")), key=lambda f: f.parts)  # Path's order, faster
        else:
            out.append(p)
    return out


def failed_result(source: str, sha: str | None, stage: str, error_type: str, message: str) -> SourceResult:
    unit = (sha or hashlib.sha256(source.encode()).hexdigest())[:16]
    result = SourceResult(source, sha or "", unit, "error")
    result.errors.append(ErrorRecord(source, stage, error_type, message, sha))
    return result


def process_source(path: str | Path, source: str | None = None, settings: Settings | None = None, **meta) -> SourceResult:
    """Parse one input file; never raises for a bad input (the error is in the result)."""
    from pipeline.process import InputError, process_pdf, sniff

    settings = resolve(settings)
    source = source or str(path)
    try:
        size = os.path.getsize(path)
        if size > settings.max_file_bytes:
            return failed_result(source, None, "read", "too_large", f"{size} bytes exceed max_file_bytes={settings.max_file_bytes}")
        data = Path(path).read_bytes()
    except OSError as exc:
        return failed_result(source, None, "read", "unreadable_file", f"{type(exc).__name__}: {exc}")
    sha = hashlib.sha256(data).hexdigest()
    kind = sniff(data, str(path).lower())
    try:
        faults.check("parse", source)
        if not data.strip():
            raise InputError("empty_file", "the file is empty", "read")
        if kind == "pdf":
            return process_pdf(path, source=source, raw_sha256=sha, settings=settings)
        if kind in ("html", "post"):
            return process_html(data, source=source, raw_sha256=sha, kind=kind, settings=settings, **meta)
        raise InputError("unsupported_type", f"neither PDF nor HTML (starts with {data[:12]!r})", "sniff")
    except InputError as exc:
        return failed_result(source, sha, exc.stage, exc.reason, str(exc))
    except MemoryError:
        return failed_result(source, sha, "pipeline", "too_much_memory",
                       f"parsing needed more than max_memory_mb={settings.max_memory_mb} MB")
    except Exception as exc:  # the per-document boundary: a parser bug must not stop the batch
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return failed_result(source, sha, "pipeline", type(exc).__name__, f"{exc} (at {Path(where.filename).name}:{where.lineno})")


def process_html(data: bytes, *, source: str, raw_sha256: str, kind: str, settings: Settings, url: str | None = None,
                 http_content_type: str | None = None) -> SourceResult:
    from pipeline.extract.html import HtmlInputError, extract_html
    from pipeline.extract.post import extract_post
    from pipeline.outline import build_sections
    from pipeline.process import InputError
    from pipeline.toc import numbering_checks

    if len(data) > settings.max_html_bytes:
        raise InputError("too_large", f"{len(data)} bytes exceed max_html_bytes={settings.max_html_bytes}", "read")
    try:
        if kind == "post":
            ex = extract_post(data, source=source)
        else:
            ex = extract_html(data, source=source, url=url, http_content_type=http_content_type)
    except HtmlInputError as exc:
        raise InputError(getattr(exc, "reason", "bad_html"), str(exc), "html") from exc
    unit = (ex.canonical_url and hashlib.sha256(ex.canonical_url.encode()).hexdigest()[:16]) or raw_sha256[:16]
    doc = Document(
        doc_id=f"{unit}-01", kind="html", source=source, raw_sha256=raw_sha256, title=ex.title,
        published_at=ex.published_at, source_name=ex.source_name, author=ex.author,
        categories=list(ex.categories), tags=list(ex.tags), url=ex.url or url, canonical_url=ex.canonical_url,
        original_url=ex.original_url, images=list(ex.images), blocks=[_html_block(b) for b in ex.blocks],
        tables=list(ex.tables), warnings=list(ex.warnings),
    )
    _gazette_fields(doc)
    doc.sections, table_sections = build_sections(doc.blocks)
    for i, table in enumerate(doc.tables):
        table.section_seq = table_sections.get(i)
    doc.toc_checks = numbering_checks(doc.sections)
    result = SourceResult(source, raw_sha256, unit, "html", documents=[doc], n_pages=0)
    for r in ex.removed:
        r.doc_id = doc.doc_id
    result.removed = list(ex.removed)
    result.warnings = list(ex.warnings)
    return result


def _gazette_fields(doc: Document) -> None:
    """A gazette document published as a web page: its 文号, issuer, date and 公开方式."""
    from pipeline.issue import doc_number_alone, document_part

    head = [b for b in doc.blocks[:12] if b.kind is BlockKind.PARAGRAPH]
    at = next((i for i, b in enumerate(head) if doc_number_alone(b.text)), None)
    if at is None:
        return
    part = document_part(doc.blocks[max(0, at - 1):])
    doc.doc_number, doc.issuer = part.doc_number or doc_number_alone(head[at].text), part.issuer
    doc.signed_date, doc.publication = part.signed_date, part.publication


def _html_block(block: Block) -> Block:
    """An HTML paragraph has no geometry; a short one (its own <p>) counts as set apart."""
    if block.kind is BlockKind.PARAGRAPH and not block.set_apart and len(block.text) <= 60:
        return replace(block, set_apart=True)
    return block


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

    def add(self, r: SourceResult) -> None:
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
