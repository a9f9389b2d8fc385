"""One input (PDF, HTML page or front-matter post) -> ``SourceResult``: the stages in order,
for PDFs (``process_pdf``) and web pages and posts (``process_html``) alike.

PDF:  extract -> clean -> tables -> layout -> issue split -> outline -> 目录 check
HTML: decode -> extract main content -> outline
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import statistics
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from pipeline import faults
from pipeline.clean import clean_pages
from pipeline.extract.html import HtmlInputError, extract_html
from pipeline.extract.pdf import PdfError, open_pdf
from pipeline.extract.post import extract_post
from pipeline.issue import (
    doc_number_alone,
    document_part,
    is_toc_title,
    labelled_fields,
    split_issue,
)
from pipeline.layout import build_blocks, page_gutters
from pipeline.model import (
    Block,
    BlockKind,
    Document,
    Draft,
    InputError,
    IssueParts,
    Layer,
    Page,
    Removed,
    Section,
    SourceResult,
)
from pipeline.outline import build_sections, heading_of
from pipeline.quality import text_layer_problem
from pipeline.settings import Settings, resolve
from pipeline.tables import caption_tables, find_tables
from pipeline.toc import check_document, check_issue, numbering_checks

T = TypeVar("T")


PAGES_PER_WORKER = 24  # below this a second process costs more than it saves


def read_pages(path: str | Path, settings: Settings) -> list[Page]:
    """Every page's lines and table regions; page ranges in parallel with ``settings.workers``."""
    with open_pdf(path, settings.backend, settings) as reader:
        n = reader.n_pages
        if n == 0:
            raise InputError("empty_pdf", "the PDF has no pages")
        if n > settings.max_pages:
            raise InputError("too_many_pages", f"{n} pages exceed max_pages={settings.max_pages}")
        workers = min(settings.workers, n // PAGES_PER_WORKER)
        if workers <= 1:
            return list(reader.pages())
    step = -(-n // workers)
    ranges = [(str(path), settings, start, min(start + step, n)) for start in range(0, n, step)]
    with mp.get_context("fork").Pool(workers) as pool:
        return [page for chunk in pool.map(_read_range, ranges) for page in chunk]


def _read_range(args: tuple[str, Settings, int, int]) -> list[Page]:
    path, settings, start, stop = args
    with open_pdf(path, settings.backend, settings) as reader:
        return list(reader.pages(start, stop))


def printed_offset(pages: Sequence[Page]) -> int | None:
    """printed page number - physical page number, by majority over pages that print one."""
    diffs = [p.printed_no - p.page_no for p in pages if p.printed_no is not None]
    return statistics.mode(diffs) if diffs else None


def process_pdf(path: str | Path, *, source: str, raw_sha256: str, settings: Settings | None = None) -> SourceResult:
    settings = resolve(settings)
    try:
        pages = read_pages(path, settings)
    except PdfError as exc:
        raise InputError(exc.reason, str(exc)) from exc
    if not any(ln.text.strip() for p in pages for ln in p.lines):
        unreadable = sum(1 for p in pages if p.warnings)
        if unreadable == len(pages):
            raise InputError("unreadable_pdf", f"none of the {len(pages)} pages could be read: {pages[0].warnings[0]}")
        raise InputError("no_text_layer", f"no text layer on any of {len(pages)} pages: scanned images? run OCR first")
    garbled = text_layer_problem(pages)  # partly garbled pages get a warning
    if garbled:
        raise InputError("garbled_text_layer", garbled)
    notes: list[str] = []  # stages that failed for the whole input: every document says so
    pages = guarded("clean", source, notes, lambda: pages, clean_pages, pages, settings)
    # pages set in two columns
    gutters = guarded("columns", source, notes, dict, partial(page_gutters, layout=settings.layout), pages)
    tables = guarded("tables", source, notes, list, find_tables, pages, settings, gutters)
    blocks = guarded("layout", source, notes, lambda: line_blocks(pages), build_blocks, pages, tables, gutters,
                     settings.layout)
    parts = guarded("issue", source, notes, lambda: IssueParts(None, None, [], [Draft(Document(), list(blocks))], []),
                    split_issue, blocks)
    unit_id = parts.unit_id(raw_sha256)
    offset = printed_offset(pages)
    kind = "gazette_pdf" if parts.issue or any(d.document.doc_number for d in parts.documents) else "pdf"
    result = SourceResult(source, raw_sha256, unit_id, kind, n_pages=len(pages))
    for n, draft in enumerate(parts.documents, start=1):
        doc = draft.document
        doc.doc_id, doc.kind, doc.source, doc.raw_sha256 = f"{unit_id}-{n:02d}", kind, source, raw_sha256
        doc.issue = parts.issue
        _finish_document(draft, offset, settings)
        if doc.title is None:
            doc.title = _title_block(draft.blocks) or _largest_text(pages, doc.page_start)
        result.documents.append(doc)
    if parts.toc:
        result.issue_toc_checks = guarded("toc", source, notes, list, check_issue, parts.toc, result.documents)
    result.removed = _removed(pages, result.documents, parts.removed, [d.removed for d in parts.documents])
    for page in pages:  # what could not be read goes to the document it belongs to
        doc = next((d for d in result.documents if (d.page_start or 0) <= page.page_no <= (d.page_end or 0)), None)
        (doc.warnings if doc else result.warnings).extend(page.warnings)
    result.warnings += notes
    for doc in result.documents:
        doc.warnings[:0] = [note for note in notes if note not in doc.warnings]
    return result


def guarded(stage: str, source: str, notes: list[str], fallback: Callable[[], T], run: Callable[..., T], *args) -> T:
    """``run(*args)``, one stage of one input. A failure (a bug, a file no rule foresaw) costs
    a note naming the stage and ``fallback()``'s plainer result, never the document: what the
    earlier stages made is kept and written. Running out of memory is left to the
    per-document boundary. ``GAZETTE_FAULTS`` can make any stage fail here (tests)."""
    try:
        faults.check(stage, source)
        return run(*args)
    except MemoryError:
        raise
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        note = (f"{stage} stage failed, the document keeps what the earlier stages made "
                f"({type(exc).__name__}: {exc} at {Path(where.filename).name}:{where.lineno})"[:400])
        if note not in notes:  # once per document, however many tables it failed on
            notes.append(note)
        return fallback()


def line_blocks(pages: Sequence[Page]) -> list[Block]:
    """Each body line a paragraph of its own: the text when the layout stage failed."""
    return [Block(BlockKind.PARAGRAPH, ln.text, page.page_no, page.page_no)
            for page in pages for ln in page.lines if ln.layer is Layer.BODY and ln.text.strip()]


def front_only(blocks: Sequence[Block]) -> list[Section]:
    """All text in one front section: the sections when the outline stage failed."""
    text = "\n".join(b.text for b in blocks if b.text)
    pages = [b.page_start for b in blocks if b.page_start is not None]
    return [Section(0, "front", None, "", "", None, "", text, min(pages, default=None), max(pages, default=None))]


def _finish_document(draft: Draft, offset: int | None, settings: Settings) -> None:
    """A PDF document's pages, tables, sections and 目录 checks, from its draft's blocks."""
    doc, blocks = draft.document, draft.blocks + draft.back_matter
    # a table's block runs from the table's first page to its last
    pages = [b.page_start for b in blocks if b.page_start] + [b.page_end for b in blocks if b.page_end]
    doc.page_start, doc.page_end = (min(pages), max(pages)) if pages else (None, None)
    if doc.page_start is not None and offset is not None:
        doc.printed_page_start = doc.page_start + offset
    doc.tables = [b.table for b in blocks if b.table is not None]
    for n, table in enumerate(doc.tables, start=1):  # t1, t2, ... in the document's reading order
        table.table_id = f"t{n}"
    doc.sections = guarded("outline", doc.source, doc.warnings, lambda: front_only(blocks),
                           build_sections, draft.blocks, draft.back_matter)
    guarded("captions", doc.source, doc.warnings, lambda: None, caption_tables, blocks, settings.tables)
    doc.toc_checks = guarded("toc", doc.source, doc.warnings, list, check_document, doc, offset)


# a PDF without a gazette header: its title is a set-apart block among its first this many
# (a cover's few lines), so that a short line deep in the body is not taken for it
TITLE_SCAN_BLOCKS = 8
TITLE_MIN_CHARS, TITLE_MAX_CHARS = 2, 80  # one character is a mark or a number; a longer block is a sentence
# pt: sizes closer than this are one size (rounding): a title is set larger than the median
# text by more, and is every line within this of the largest size
LARGER_TEXT_PT = 0.5
LARGEST_TEXT_MAX_CHARS = 200  # the largest text of a page taken as its title is cut here: a title, not a page


def _title_block(blocks: Sequence[Block]) -> str | None:
    """Title of a PDF without a gazette header: its first set-apart line before any heading."""
    for block in blocks[:TITLE_SCAN_BLOCKS]:
        if block.kind is not BlockKind.PARAGRAPH or heading_of(block) is not None or is_toc_title(block.text):
            break
        if labelled_fields(block.text):
            continue  # 发文单位：… / 文 号：…: a legal database's metadata, not the title
        if block.set_apart and TITLE_MIN_CHARS <= len(block.text) <= TITLE_MAX_CHARS:
            return block.text.strip()
    return None


def _largest_text(pages: Sequence[Page], page_no: int | None) -> str | None:
    """Title of a PDF without a gazette header: the largest text on its first page."""
    page = next((p for p in pages if p.page_no == (page_no or 1)), pages[0] if pages else None)
    body = [ln for ln in page.lines if ln.layer is Layer.BODY] if page else []
    if not body:
        return None
    top = max(ln.font_size or 0 for ln in body)
    if top <= statistics.median(ln.font_size or 0 for ln in body) + LARGER_TEXT_PT:
        return None  # nothing set larger than the text: no title to tell
    return "".join(ln.text for ln in body if (ln.font_size or 0) >= top - LARGER_TEXT_PT)[:LARGEST_TEXT_MAX_CHARS]


def _removed(pages: Sequence[Page], documents: Sequence[Document], front: list[Removed], per_doc: list[list[Removed]]) -> list[Removed]:
    def doc_for(page: int | None) -> str | None:
        for d in documents:
            if page is not None and d.page_start is not None and d.page_start <= page <= (d.page_end or page):
                return d.doc_id
        return None

    out = [Removed(r.page, r.text, r.reason, None) for r in front]
    for doc, removed in zip(documents, per_doc, strict=True):
        out += [Removed(r.page, r.text, r.reason, doc.doc_id) for r in removed]
    for page in pages:
        for ln in page.lines:
            if ln.layer is not Layer.BODY:
                out.append(Removed(page.page_no, ln.text, ln.reason or str(ln.layer), doc_for(page.page_no)))
    return out


# --- HTML pages and posts ---------------------------------------------------------------------


def process_html(data: bytes, *, source: str, raw_sha256: str, kind: str, settings: Settings, url: str | None = None,
                 http_content_type: str | None = None) -> SourceResult:
    if len(data) > settings.max_html_bytes:
        raise InputError("too_large", f"{len(data)} bytes exceed max_html_bytes={settings.max_html_bytes}", "read")
    try:
        if kind == "post":
            draft = extract_post(data, source=source)
        else:
            draft = extract_html(data, source=source, url=url, http_content_type=http_content_type)
    except HtmlInputError as exc:
        raise InputError(getattr(exc, "reason", "bad_html"), str(exc), "html") from exc
    doc = draft.document
    unit = (doc.canonical_url and hashlib.sha256(doc.canonical_url.encode()).hexdigest()[:16]) or raw_sha256[:16]
    doc.doc_id, doc.kind, doc.raw_sha256, doc.url = f"{unit}-01", "html", raw_sha256, doc.url or url
    result = SourceResult(source, raw_sha256, unit, "html", documents=[doc], n_pages=0,
                          warnings=list(doc.warnings))  # what extraction noted; the later stages' notes stay the document's
    blocks = [_html_block(b) for b in draft.blocks]
    guarded("issue", source, doc.warnings, lambda: None, _gazette_fields, doc, blocks)
    doc.sections = guarded("outline", source, doc.warnings, lambda: front_only(blocks), build_sections, blocks)
    doc.toc_checks = guarded("toc", source, doc.warnings, list, numbering_checks, doc.sections)
    for r in draft.removed:  # the lines taken out are this document's (it has its id now)
        r.doc_id = doc.doc_id
    result.removed = draft.removed
    return result


# a gazette document's header (issuer, 文号) opens its web page: it is looked for among its
# first this many blocks only, so that a 文号 quoted further down is not taken for it
HEADER_SCAN_BLOCKS = 12
# an HTML paragraph this short (its own <p>: a title, a 文号, a date line) counts as set apart
SET_APART_MAX_CHARS = 60


def _gazette_fields(doc: Document, blocks: Sequence[Block]) -> None:
    """A gazette document published as a web page: its 文号, issuer, date and 公开方式."""
    head = [b for b in blocks[:HEADER_SCAN_BLOCKS] if b.kind is BlockKind.PARAGRAPH]
    at = next((i for i, b in enumerate(head) if doc_number_alone(b.text)), None)
    if at is None:
        return
    # the web page keeps its own title (the page's <h1>, not the line after the 文号)
    header = document_part(list(blocks[max(0, at - 1):])).document
    doc.doc_number, doc.issuer = header.doc_number or doc_number_alone(head[at].text), header.issuer
    doc.signed_date, doc.publication = header.signed_date, header.publication


def _html_block(block: Block) -> Block:
    """An HTML paragraph has no geometry; a short one (its own <p>) counts as set apart."""
    if block.kind is BlockKind.PARAGRAPH and not block.set_apart and len(block.text) <= SET_APART_MAX_CHARS:
        return replace(block, set_apart=True)
    return block
