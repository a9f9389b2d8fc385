"""The one document model that every stage passes on.

Coordinates: every bbox is ``(x0, top, x1, bottom)`` in PDF points with the origin at
the *top-left* corner of the page (pdfplumber's convention); HTML content has
``bbox=None``. Page numbers (``page_no``) are physical, 1-based.

Stages never delete content silently: cleaning re-tags a line's ``layer`` and records
why, and the storage stage writes every non-body line to the ``removed`` dataset.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

BBox = tuple[float, float, float, float]


class Layer(StrEnum):
    BODY = "body"
    FURNITURE = "furniture"  # running headers, page numbers, navigation
    BACKGROUND = "background"  # watermarks


class BlockKind(StrEnum):
    PARAGRAPH = "paragraph"
    HEADING = "heading"  # a heading the *input* marks as one (<h2>, <strong>-only <p>)
    TABLE = "table"  # where a table stands in the text: the block carries the ``Table``


@dataclass(frozen=True, slots=True)
class Line:
    """One visual line of text as extracted from a page."""

    text: str
    page_no: int
    bbox: BBox | None = None
    font_size: float | None = None
    layer: Layer = Layer.BODY
    reason: str | None = None  # which cleaning rule re-tagged it (watermark, running_header, ...)
    # wide blank stretches inside the line, (x0, x1, text offset): where a column gutter may run
    # through it (the layout stage splits a line there on a page set in columns)
    gaps: tuple[tuple[float, float, int], ...] = ()

    @property
    def x0(self) -> float:
        return self.bbox[0] if self.bbox else 0.0

    @property
    def top(self) -> float:
        return self.bbox[1] if self.bbox else 0.0


@dataclass(frozen=True, slots=True)
class PageTable:
    """A table region found on one page, before cross-page merging."""

    page_no: int
    bbox: BBox
    rows: tuple[tuple[str, ...], ...]
    col_edges: tuple[float, ...]  # x positions of the column boundaries, left to right
    ruled: bool = True
    # columns whose bottom cell's text fills its last line to the cell's edge: at the foot
    # of a page, text that may go on in the same (merged) cell on the next page
    cut_cells: tuple[int, ...] = ()


@dataclass(slots=True)
class Page:
    page_no: int
    width: float
    height: float
    lines: list[Line]
    tables: list[PageTable] = field(default_factory=list)
    printed_no: int | None = None  # the page number printed in the footer, when found
    warnings: list[str] = field(default_factory=list)  # what could not be read on this page


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph-level unit of the body text stream, input-neutral (PDF or HTML)."""

    kind: BlockKind
    text: str
    page_start: int | None = None
    page_end: int | None = None
    heading_level: int | None = None  # <h1>..<h6> => 1..6; <strong>-only paragraph => 7
    set_apart: bool = False  # PDF: the line stood alone (short, own line, gap/indent)
    n_lines: int = 1  # visual lines the paragraph was set in
    table: Table | None = None  # a TABLE block's table (its caption, pages and section set later)


@dataclass(slots=True)
class Section:
    """One heading and the body text under it (up to the next heading of any level)."""

    seq: int
    level: str  # part / chapter / section / article / item / subitem / point / subpoint / heading / front
    number: int | None
    heading: str
    title: str
    parent_seq: int | None
    path: str
    text: str
    page_start: int | None
    page_end: int | None
    depth: int = 0


@dataclass(slots=True)
class Table:
    """One printed table, merged across pages."""

    table_id: str
    header: list[str]
    rows: list[list[str]]
    caption: str | None = None
    label: str | None = None  # e.g. 附件 / 附件1
    section_seq: int | None = None
    page_start: int | None = None
    page_end: int | None = None
    bbox: BBox | None = None  # on the first page
    kind: str = "ruled"  # ruled / borderless / html
    col_edges: tuple[float, ...] = ()
    regions: list[tuple[int, BBox]] = field(default_factory=list)  # (page, bbox) of each printed part

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    @property
    def n_cols(self) -> int:
        return len(self.header) if self.header else max((len(r) for r in self.rows), default=0)


@dataclass(slots=True)
class TocEntry:
    level: str  # part / chapter / section / article / document
    number: int | None
    title: str
    page: int | None = None  # printed page reference, when the 目录 gives one
    parent_number: int | None = None  # chapter number of a section entry
    doc_number: str | None = None  # issue-level entries: the 文号


@dataclass(slots=True)
class TocCheck:
    level: str
    number: int | None
    status: str  # ok / title_mismatch / missing / out_of_order / page_mismatch / extra / gap / duplicate
    toc_title: str | None = None
    body_title: str | None = None
    similarity: float | None = None
    toc_page: int | None = None
    body_page: int | None = None
    parent_number: int | None = None
    detail: str | None = None


@dataclass(slots=True)
class Removed:
    page: int | None
    text: str
    reason: str
    doc_id: str | None = None


@dataclass(slots=True)
class Image:
    src: str
    alt: str | None = None
    caption: str | None = None


@dataclass(slots=True)
class Document:
    """One document (a gazette issue holds several; an HTML page holds one).

    The stages fill it in as they learn about it: an extractor or the issue stage starts it with
    what the text says (title, 文号, dates), ``process`` gives it its identity once the input's
    unit is known, and the later stages add sections, tables and checks."""

    doc_id: str = ""  # <unit_id>-<nn>: set once the input's unit is known
    kind: str = ""  # gazette_pdf / pdf / html
    source: str = ""
    raw_sha256: str = ""
    title: str | None = None
    issue: str | None = None
    doc_number: str | None = None
    issuer: str | None = None
    signed_date: str | None = None  # ISO date
    publication: str | None = None  # 公开方式
    effective_date: str | None = None  # ISO date: 生效日期 / 施行日期 of a labelled metadata block
    validity: str | None = None  # 效力范围 / 时效性 (全文有效, 现行有效, ...)
    page_start: int | None = None
    page_end: int | None = None
    printed_page_start: int | None = None
    # HTML metadata (None for PDFs)
    published_at: Any = None  # datetime with tzinfo
    source_name: str | None = None
    author: str | None = None
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    url: str | None = None
    canonical_url: str | None = None
    original_url: str | None = None
    encoding: str | None = None  # the codec an HTML page's bytes were read with
    images: list[Image] = field(default_factory=list)
    # content (a document's paragraph blocks are the stages' working state, not kept here: its
    # sections hold their text, and a result is the same however it was run)
    sections: list[Section] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    toc: list[TocEntry] = field(default_factory=list)
    toc_checks: list[TocCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Draft:
    """A document on its way through the stages: the document with what is known of it so far,
    the body blocks the later stages still read (its sections are made of them), its back matter
    (what follows 公开方式: signature, 附件 list) and the lines taken out on the way."""

    document: Document
    blocks: list[Block] = field(default_factory=list)
    back_matter: list[Block] = field(default_factory=list)
    removed: list[Removed] = field(default_factory=list)


@dataclass(slots=True)
class IssueParts:
    """What the issue stage finds in a PDF's blocks: the issue and gazette it belongs to, the
    issue 目录, one draft per document, and the front matter's lines (cover, issue 目录)."""

    issue: str | None
    gazette: str | None
    toc: list[TocEntry]
    documents: list[Draft]
    removed: list[Removed]

    def unit_id(self, raw_sha256: str) -> str:
        if self.issue and self.gazette:
            return f"{self.issue}-{hashlib.sha1(self.gazette.encode()).hexdigest()[:6]}"
        return raw_sha256[:16]


class InputError(Exception):
    """A bad input: ``reason`` is a short tag (not_a_pdf, encrypted, no_text_layer, ...); it
    becomes the input's ``ErrorRecord``."""

    def __init__(self, reason: str, message: str, stage: str = "extract"):
        super().__init__(message)
        self.reason = reason
        self.stage = stage


@dataclass(slots=True)
class ErrorRecord:
    source: str
    stage: str
    error_type: str
    message: str
    raw_sha256: str | None = None


@dataclass(slots=True)
class SourceResult:
    """Everything one input file produced: the unit that storage replaces atomically."""

    source: str
    raw_sha256: str
    unit_id: str  # stable key: re-processing the same issue/page replaces this unit's rows
    kind: str
    documents: list[Document] = field(default_factory=list)
    removed: list[Removed] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    issue_toc_checks: list[TocCheck] = field(default_factory=list)
    n_pages: int = 0
    warnings: list[str] = field(default_factory=list)
