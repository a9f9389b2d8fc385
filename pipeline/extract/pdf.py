"""PDF extraction: each page parsed once into text lines (and, where needed, table regions).

Two backends sit behind one small interface (``open_pdf(...).pages()``):

* ``pdfplumber``: characters and ruled tables from pdfminer; the reference path.
* ``pdfium``: characters from pypdfium2 (about 40x faster); pages that hold ruling lines
  (a table may be there) are handed to pdfplumber for their table regions only.

Both reduce characters to ``Char`` and share ``chars_to_lines`` so they agree line for
line. Page caches are released after each page, so memory stays flat on long PDFs.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import pdfplumber
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from pipeline.extract.chars import Char, chars_to_lines
from pipeline.model import Page, PageTable


class PdfError(Exception):
    """A PDF that cannot be read; ``reason`` is a short machine-readable tag."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class PdfReader(Protocol):
    n_pages: int

    def pages(self, start: int = 0, stop: int | None = None) -> Iterator[Page]: ...

    def close(self) -> None: ...


# --- tables (pdfplumber, on a page that is already open) ------------------------------

TABLE_SETTINGS = {"vertical_strategy": "lines", "horizontal_strategy": "lines", "snap_tolerance": 3}


# marks a grid position covered by a merged (spanning) cell
SPANNED = "\x00"


def page_tables(page: pdfplumber.page.Page) -> list[PageTable]:
    """Ruled tables on an open pdfplumber page, with their column edges and merged cells.

    A cell that a spanning (merged) cell covers is ``None`` in pdfplumber's grid; the
    tables stage fills it (see ``pipeline.tables``).
    """
    found = []
    for table in page.find_tables(TABLE_SETTINGS):
        grid = table.extract(x_tolerance=1.5, y_tolerance=3)
        if not grid or len(grid) < 1 or max(len(r) for r in grid) < 2:
            continue
        xs = sorted({round(c[0], 1) for c in table.cells} | {round(c[2], 1) for c in table.cells})
        edges: list[float] = []
        for x in xs:
            if not edges or x - edges[-1] > 2.0:
                edges.append(x)
        rows = tuple(tuple(row) for row in _fill_spans(table, grid))
        tops = tuple(round(r.bbox[1], 1) for r in table.rows)
        found.append(
            PageTable(
                page_no=page.page_number,
                bbox=tuple(round(v, 2) for v in table.bbox),
                rows=rows,
                col_edges=tuple(edges),
                ruled=True,
                row_tops=tops,
            )
        )
    return found


def _fill_spans(table, grid: list[list[str | None]]) -> list[list[str]]:
    """Give every grid position that a merged (spanning) cell covers that cell's text.

    pdfplumber leaves such positions ``None``; the cell covering a position's centre is
    found by geometry, so row spans and column spans are told apart exactly. A position
    no cell covers stays SPANNED for the tables stage.
    """
    origins = {}
    for i, row in enumerate(table.rows):
        for j, bbox in enumerate(row.cells):
            if bbox is not None:
                origins[bbox] = (i, j)
    # a grid row runs from its top to the next row's top (a row's own bbox grows with
    # the tall cells that start in it); likewise for columns
    tops = [r.bbox[1] for r in table.rows] + [table.bbox[3]]
    lefts = [c.bbox[0] for c in table.columns] + [table.bbox[2]]
    out = []
    for i, row in enumerate(grid):
        cells = []
        for j, text in enumerate(row):
            if text is None and j < len(table.columns) and i < len(table.rows):
                y = (tops[i] + tops[i + 1]) / 2
                x = (lefts[j] + lefts[j + 1]) / 2
                owner = next((o for b, o in origins.items() if b[0] <= x <= b[2] and b[1] <= y <= b[3]), None)
                text = grid[owner[0]][owner[1]] if owner and grid[owner[0]][owner[1]] is not None else SPANNED
            cells.append(text if text is not None else SPANNED)
        out.append(cells)
    return out


def _plumber_chars(page: pdfplumber.page.Page) -> list[Char]:
    out = []
    for c in page.chars:
        if not c.get("upright", True):
            continue
        # baseline = page height - origin y, written so that a non-zero mediabox origin cancels
        baseline = c["top"] + c["y1"] - c["matrix"][5]
        out.append(Char(c["text"], c["x0"], c["x1"], baseline, c["size"]))
    return out


def _has_rulings(page: pdfplumber.page.Page) -> bool:
    return len(page.lines) + len(page.rects) >= 4


class PlumberReader:
    """The reference backend: pdfplumber for text and tables."""

    def __init__(self, path: str | Path):
        self._pdf = _open_plumber(path)
        self.n_pages = len(self._pdf.pages)

    def pages(self, start: int = 0, stop: int | None = None) -> Iterator[Page]:
        for page in self._pdf.pages[start:stop]:
            try:
                lines = chars_to_lines(_plumber_chars(page), page.page_number)
                tables = page_tables(page) if _has_rulings(page) else []
                yield Page(page.page_number, float(page.width), float(page.height), lines, tables)
            finally:
                page.close()  # drops pdfminer's layout cache for this page

    def close(self) -> None:
        self._pdf.close()


def _open_plumber(path: str | Path) -> pdfplumber.PDF:
    try:
        pdf = pdfplumber.open(path)
        _ = pdf.pages
    except Exception as exc:  # pdfminer raises many types for broken files
        name = type(exc).__name__
        if "Password" in name or "Encrypt" in name or "PDFEncryption" in str(exc):
            raise PdfError("encrypted", f"encrypted PDF ({name})") from exc
        raise PdfError("unreadable_pdf", f"cannot parse PDF: {name}: {exc}") from exc
    return pdf


# --- pypdfium2 --------------------------------------------------------------------------


class PdfiumReader:
    """Fast backend: pypdfium2 characters; pdfplumber only for pages with ruling lines."""

    def __init__(self, path: str | Path):
        self._path = str(path)
        try:
            self._doc = pdfium.PdfDocument(self._path)
        except pdfium.PdfiumError as exc:
            msg = str(exc)
            if "password" in msg.lower():
                raise PdfError("encrypted", f"encrypted PDF: {msg}") from exc
            raise PdfError("unreadable_pdf", f"cannot parse PDF: {msg}") from exc
        self.n_pages = len(self._doc)
        self._plumber: pdfplumber.PDF | None = None

    def _plumber_page(self, index: int, with_chars: bool) -> tuple[list[Char] | None, list[PageTable]]:
        """pdfplumber's view of one page: its table regions (and characters, if asked)."""
        if self._plumber is None:
            self._plumber = _open_plumber(self._path)
        page = self._plumber.pages[index]
        try:
            return (_plumber_chars(page) if with_chars else None), page_tables(page)
        finally:
            page.close()

    def pages(self, start: int = 0, stop: int | None = None) -> Iterator[Page]:
        stop = self.n_pages if stop is None else min(stop, self.n_pages)
        for index in range(start, stop):
            page = self._doc[index]
            try:
                width, height = page.get_size()
                chars = _pdfium_chars(page, height)
                # text objects but no characters: pdfium could not map this page's text
                uncertain = not chars and _has_objects(page, pdfium_c.FPDF_PAGEOBJ_TEXT, 1)
                tables: list[PageTable] = []
                if uncertain or _has_objects(page, pdfium_c.FPDF_PAGEOBJ_PATH, 4):
                    plumber_chars, tables = self._plumber_page(index, uncertain)
                    chars = plumber_chars if uncertain else chars
                yield Page(index + 1, float(width), float(height), chars_to_lines(chars, index + 1), tables)
            finally:
                page.close()

    def close(self) -> None:
        if self._plumber is not None:
            self._plumber.close()
        self._doc.close()


def _pdfium_chars(page: pdfium.PdfPage, height: float) -> list[Char]:
    textpage = page.get_textpage()
    raw = textpage.raw
    out = []
    x, y = ctypes.c_double(), ctypes.c_double()
    rect = pdfium_c.FS_RECTF()
    matrix = pdfium_c.FS_MATRIX()
    try:
        for i in range(pdfium_c.FPDFText_CountChars(raw)):
            if pdfium_c.FPDFText_IsGenerated(raw, i) == 1:
                continue  # pdfium's own inserted spaces / line breaks
            code = pdfium_c.FPDFText_GetUnicode(raw, i)
            if code in (0, 0xFFFE, 0xFFFF) or code in (10, 13):
                continue
            pdfium_c.FPDFText_GetLooseCharBox(raw, i, rect)
            pdfium_c.FPDFText_GetCharOrigin(raw, i, x, y)
            # GetFontSize is the Tf operand; the text matrix scales it to the size on the page
            pdfium_c.FPDFText_GetMatrix(raw, i, matrix)
            size = pdfium_c.FPDFText_GetFontSize(raw, i) * abs(matrix.a * matrix.d - matrix.b * matrix.c) ** 0.5
            out.append(Char(chr(code), rect.left, rect.right, height - y.value, size))
    finally:
        textpage.close()
    return out


def _has_objects(page: pdfium.PdfPage, kind: int, at_least: int) -> bool:
    """Does the page hold at least ``at_least`` objects of ``kind`` (paths: maybe rulings)?"""
    objects = page.get_objects(filter=(kind,), max_depth=2)
    return sum(1 for _, _ in zip(range(at_least), objects, strict=False)) >= at_least


BACKENDS = {"pdfplumber": PlumberReader, "pdfium": PdfiumReader, "auto": PdfiumReader}


@contextmanager
def open_pdf(path: str | Path, backend: str = "auto") -> Iterator[PdfReader]:
    try:
        reader = BACKENDS[backend](path)
    except KeyError:
        raise ValueError(f"unknown PDF backend {backend!r}; choose from {sorted(BACKENDS)}") from None
    try:
        yield reader
    finally:
        reader.close()
