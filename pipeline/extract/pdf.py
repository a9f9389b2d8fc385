"""PDF extraction: each page parsed once into text lines (and, where needed, table regions).

Two backends sit behind one small interface (``open_pdf(...).pages()``):

* ``pdfplumber``: characters and ruling edges from pdfminer; the reference path.
* ``pdfium`` (``auto``): characters and ruling edges from pypdfium2 (about 40x faster to
  read); pdfplumber only for a page whose text pdfium cannot map or whose rulings sit in
  form XObjects, and for a file pdfium cannot open.

Both reduce characters to ``Char`` and share ``chars_to_lines``, and both hand their
edges to ``ruled_tables`` (pdfplumber's table algorithm, our cell text), so they agree
line for line and cell for cell (``tests/test_backends.py``). Pages are read one at a
time and released, so memory stays flat on long PDFs.
"""

from __future__ import annotations

import bisect
import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import pdfplumber
import pdfplumber.table as ptable
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from pipeline.extract import pdfminer_spacing
from pipeline.extract.chars import Char, chars_to_lines, page_lines
from pipeline.model import Page, PageTable

pdfminer_spacing.apply()  # pdfplumber's glyph positions as the specification places them


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
# what a glyph without a Unicode mapping reads as, in both backends (pipeline.quality counts them)
UNMAPPED_CODE = 0xFFFD
UNMAPPED = chr(UNMAPPED_CODE)


def page_tables(page: pdfplumber.page.Page, warnings: list[str] | None = None,
                chars: list[Char] | None = None) -> list[PageTable]:
    """Ruled tables on an open pdfplumber page (edges from pdfminer's drawing objects).

    A page whose drawing pdfminer cannot interpret yields no tables and a warning (its
    text is still read), rather than failing the document.
    """
    try:
        edges = [e for e in page.edges if e["orientation"] in ("h", "v")]
        return ruled_tables(edges, _plumber_chars(page) if chars is None else chars, page.page_number)
    except Exception as exc:  # pdfminer raises assorted types on broken content streams
        if warnings is not None:
            warnings.append(f"page {page.page_number}: tables not read ({type(exc).__name__}: {exc})"[:300])
        return []


def ruled_tables(edges: list[dict], chars: list[Char], page_no: int) -> list[PageTable]:
    """Ruled tables from ruling edges and the page's characters, whichever backend found them.

    pdfplumber's own table algorithm (snap and join edges, intersections, cells, tables)
    with ``TABLE_SETTINGS``; cell text comes from our characters, so both backends fill
    cells the same way.
    """
    settings = ptable.TableSettings.resolve(TABLE_SETTINGS)
    edges = [e for e in edges if _edge_length(e) >= settings.edge_min_length_prefilter]
    edges = ptable.merge_edges(edges, settings.snap_x_tolerance, settings.snap_y_tolerance,
                               settings.join_x_tolerance, settings.join_y_tolerance)
    edges = [e for e in edges if _edge_length(e) >= settings.edge_min_length]
    points = ptable.edges_to_intersections(edges, settings.intersection_x_tolerance,
                                           settings.intersection_y_tolerance)
    found = []
    for group in ptable.cells_to_tables(ptable.intersections_to_cells(points)):
        table = ptable.Table(None, group)
        bands = _row_bands(_within(chars, table.bbox), [r.bbox[1] for r in table.rows])
        grid = [[None if cell is None else _cell_text(_band_chars(bands, cell), cell, page_no) for cell in row.cells]
                for row in table.rows]
        if not grid or max(len(r) for r in grid) < 2:
            continue
        xs = sorted({round(c[0], 1) for c in table.cells} | {round(c[2], 1) for c in table.cells})
        col_edges: list[float] = []
        for x in xs:
            if not col_edges or x - col_edges[-1] > 2.0:
                col_edges.append(x)
        found.append(PageTable(
            page_no=page_no,
            bbox=tuple(round(v, 2) for v in table.bbox),
            rows=tuple(tuple(row) for row in _fill_spans(table, grid)),
            col_edges=tuple(col_edges),
            ruled=True,
        ))
    return found


def _edge_length(edge: dict) -> float:
    return edge["x1"] - edge["x0"] if edge["orientation"] == "h" else edge["bottom"] - edge["top"]


def _row_bands(chars: list[Char], tops: list[float]) -> list[tuple[float, list[Char]]]:
    """Characters bucketed by the table row band their middle falls in, so each cell looks
    only at the rows it spans."""
    bands: list[tuple[float, list[Char]]] = [(top, []) for top in tops]
    for c in chars:
        at = bisect.bisect_right(tops, c.baseline - c.size / 2) - 1
        bands[max(at, 0)][1].append(c)
    return bands


def _band_chars(bands: list[tuple[float, list[Char]]], bbox: tuple) -> list[Char]:
    top, bottom = bbox[1], bbox[3]
    out: list[Char] = []
    for k, (band_top, chars) in enumerate(bands):
        next_top = bands[k + 1][0] if k + 1 < len(bands) else float("inf")
        if next_top > top - 0.5 and band_top < bottom + 0.5:
            out += chars
    return out


def _within(chars: list[Char], bbox: tuple) -> list[Char]:
    """Characters whose centre lies in ``bbox``."""
    x0, top, x1, bottom = bbox
    return [c for c in chars if x0 <= (c.x0 + c.x1) / 2 <= x1 and top <= c.baseline - c.size / 2 <= bottom]


def _cell_text(chars: list[Char], bbox: tuple, page_no: int) -> str:
    """The cell's characters as lines of text, one per visual line."""
    return "\n".join(ln.text for ln in chars_to_lines(_within(chars, bbox), page_no))


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


def is_turned(a: float, b: float, c: float, d: float) -> bool:
    """Text drawn at an angle (``b`` of its matrix is not 0): a diagonal watermark, a vertical
    stamp. A shear alone (``c``, a slanted italic) is upright text."""
    scale = abs(a * d - b * c) ** 0.5 or 1.0
    return abs(b) > 0.05 * scale


def _plumber_chars(page: pdfplumber.page.Page, turned: list[Char] | None = None) -> list[Char]:
    """Upright characters of a page; turned ones go to ``turned`` when given (else dropped)."""
    out = []
    for c in page.chars:
        text = c["text"]
        if len(text) != 1:
            if text == "(cid:0)":
                continue  # CID 0 is .notdef, the glyph for "no glyph": PDFium's text page has no character there
            text = UNMAPPED if text.startswith("(cid:") else text  # (cid:N): a glyph with no Unicode mapping
        # baseline = page height - origin y, written so that a non-zero mediabox origin cancels
        baseline = c["top"] + c["y1"] - c["matrix"][5]
        char = Char(text, c["x0"], c["x1"], baseline, c["size"])
        if c.get("upright", True) and not is_turned(*c["matrix"][:4]):
            out.append(char)
        elif turned is not None:
            turned.append(char)
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
            warnings: list[str] = []
            try:
                turned: list[Char] = []
                lines = page_lines(_plumber_chars(page, turned), turned, page.page_number, warnings)
                tables = page_tables(page, warnings) if _has_rulings(page) else []
                yield Page(page.page_number, float(page.width), float(page.height), lines, tables, warnings=warnings)
            except Exception as exc:  # one unreadable page must not lose the document
                yield _unreadable(page.page_number, exc)
            finally:
                page.close()  # drops pdfminer's layout cache for this page

    def close(self) -> None:
        self._pdf.close()


def _unreadable(page_no: int, exc: Exception) -> Page:
    reason = f"page {page_no}: not readable, skipped ({type(exc).__name__}: {exc})"[:300]
    return Page(page_no, 595.0, 842.0, [], [], warnings=[reason])


def _causes(exc: BaseException) -> list[BaseException]:
    out, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def _open_plumber(path: str | Path) -> pdfplumber.PDF:
    try:
        pdf = pdfplumber.open(path)
        _ = pdf.pages
    except Exception as exc:  # pdfminer raises many types for broken files; pdfplumber wraps them
        chain = _causes(exc) + [a for e in _causes(exc) for a in e.args if isinstance(a, BaseException)]
        names = " ".join(f"{type(e).__name__} {e!r}" for e in chain)
        if "Password" in names or "Encrypt" in names:
            raise PdfError("encrypted", "encrypted PDF: a password is needed to read it") from exc
        detail = next((f"{type(e).__name__}: {e}" for e in chain if str(e).strip()), type(exc).__name__)
        raise PdfError("unreadable_pdf", f"cannot parse PDF: {detail}"[:300]) from exc
    return pdf


# --- pypdfium2 --------------------------------------------------------------------------

# PDFium is not thread-safe: every call into it, from any thread (Prefect's thread task
# runner parses documents concurrently), holds this lock. Processes need no lock.
PDFIUM_LOCK = threading.RLock()


class PdfiumReader:
    """Fast backend: pypdfium2 characters; pdfplumber only for pages with ruling lines."""

    def __init__(self, path: str | Path):
        self._path = str(path)
        try:
            with PDFIUM_LOCK:
                self._doc = pdfium.PdfDocument(self._path)
                self.n_pages = len(self._doc)
        except pdfium.PdfiumError as exc:
            msg = str(exc)
            if "password" in msg.lower():
                raise PdfError("encrypted", f"encrypted PDF: {msg}") from exc
            raise PdfError("unreadable_pdf", f"cannot parse PDF: {msg}") from exc
        self._plumber: pdfplumber.PDF | None = None

    def _plumber_page(self, index: int, with_chars: bool, warnings: list[str],
                      turned: list[Char] | None = None) -> tuple[list[Char] | None, list[PageTable]]:
        """pdfplumber's view of one page: its table regions (and characters, if asked)."""
        if self._plumber is None:
            self._plumber = _open_plumber(self._path)
        if index >= len(self._plumber.pages):  # the two parsers may count pages differently
            return None, []
        page = self._plumber.pages[index]
        try:
            return (_plumber_chars(page, turned) if with_chars else None), page_tables(page, warnings)
        finally:
            page.close()

    def pages(self, start: int = 0, stop: int | None = None) -> Iterator[Page]:
        stop = self.n_pages if stop is None else min(stop, self.n_pages)
        for index in range(start, stop):
            try:
                yield self._page(index)
            except Exception as exc:  # pdfium cannot load it: pdfplumber may, else skip it
                yield self._fallback_page(index, exc)

    def _page(self, index: int) -> Page:
        with PDFIUM_LOCK:
            page = self._doc[index]
            if page.get_rotation():
                page.close()
                return self._plumber_whole_page(index)
            try:
                width, height = page.get_size()
                turned: list[Char] = []
                mapped: set[int] = set()
                chars = _pdfium_chars(page, height, turned, mapped)
                # text objects but no characters: pdfium could not map this page's text
                uncertain = not chars and not turned and _has_objects(page, pdfium_c.FPDF_PAGEOBJ_TEXT, 1)
                fonts = [] if uncertain else _unmapped_fonts(page, mapped)
                edges = _pdfium_edges(page, height) if _has_objects(page, pdfium_c.FPDF_PAGEOBJ_PATH, 4) else []
            finally:
                page.close()
        tables: list[PageTable] = []
        warnings: list[str] = []
        if fonts:
            warnings.append(f"page {index + 1}: {FONT_FALLBACK_WARNING} (fonts: {', '.join(fonts)})")
            uncertain = True
        elif any(c.text == UNMAPPED for c in chars) or any(c.text == UNMAPPED for c in turned):
            # glyphs without Unicode: PDFium's text page also merges some of them as spaces, so a
            # page that has any is read by pdfminer, as the reference backend reads it
            uncertain = True
        if uncertain or edges is None:  # text pdfium cannot map, or rulings inside forms
            plumber_turned: list[Char] = []
            plumber_chars, tables = self._plumber_page(index, uncertain, warnings, plumber_turned)
            if uncertain and plumber_chars is not None:
                chars, turned = plumber_chars, plumber_turned
        elif edges:
            tables = ruled_tables(edges, chars, index + 1)
        lines = page_lines(chars, turned, index + 1, warnings)
        return Page(index + 1, float(width), float(height), lines, tables, warnings=warnings)

    def _plumber_whole_page(self, index: int) -> Page:
        """A page with /Rotate (a landscape page, its content drawn turned): pdfplumber reads it
        as displayed, where the text is upright; PDFium's text API gives unrotated coordinates."""
        warnings: list[str] = []
        turned: list[Char] = []
        chars, tables = self._plumber_page(index, True, warnings, turned)
        page = self._plumber.pages[index]
        lines = page_lines(chars or [], turned, index + 1, warnings)
        return Page(index + 1, float(page.width), float(page.height), lines, tables, warnings=warnings)

    def _fallback_page(self, index: int, exc: Exception) -> Page:
        try:
            warnings = [f"page {index + 1}: read with pdfplumber ({type(exc).__name__}: {exc})"[:300]]
            turned: list[Char] = []
            chars, tables = self._plumber_page(index, True, warnings, turned)
            if chars is None:
                raise exc
            page = self._plumber.pages[index]
            lines = page_lines(chars, turned, index + 1, warnings)
            return Page(index + 1, float(page.width), float(page.height), lines, tables, warnings=warnings)
        except Exception as again:
            return _unreadable(index + 1, again)

    def close(self) -> None:
        if self._plumber is not None:
            self._plumber.close()
        with PDFIUM_LOCK:
            self._doc.close()


def _pdfium_chars(page: pdfium.PdfPage, height: float, turned: list[Char] | None = None,
                  mapped: set[int] | None = None) -> list[Char]:
    """Upright characters of one page; turned ones go to ``turned`` when given, and the text
    objects that gave characters to ``mapped``. The hot loop of the fast path: the page's
    text comes in one call, and font size and matrix are asked for once per text object."""
    textpage = page.get_textpage()
    raw = textpage.raw
    out: list[Char] = []
    x, y = ctypes.c_double(), ctypes.c_double()
    rect = pdfium_c.FS_RECTF()
    matrix = pdfium_c.FS_MATRIX()
    loose_box, origin = pdfium_c.FPDFText_GetLooseCharBox, pdfium_c.FPDFText_GetCharOrigin
    generated = pdfium_c.FPDFText_IsGenerated
    unmapped, unicode_of = pdfium_c.FPDFText_HasUnicodeMapError, pdfium_c.FPDFText_GetUnicode
    text_object = _address(pdfium_c.FPDFText_GetTextObject)
    try:
        count = pdfium_c.FPDFText_CountChars(raw)
        if count <= 0:
            return out
        buffer = ctypes.create_string_buffer(2 * (count + 1))
        written = pdfium_c.FPDFText_GetText(raw, 0, count, ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ushort)))
        codes = memoryview(buffer.raw).cast("H")[:count].tolist()
        if written != count + 1:  # it left a character out (an unmapped control code): the rest moved up one
            codes = [unicode_of(raw, i) for i in range(count)]
        last_obj, size, baseline, upright = None, 0.0, 0.0, True
        target = out
        for i, code in enumerate(codes):
            if unmapped(raw, i) == 1:
                # no Unicode for this glyph: PDFium passes its character code on as if it were
                # one (U+0100... for an Identity-H font without ToUnicode); pdfminer's (cid:N)
                # becomes U+FFFD in _plumber_chars, and so does this
                code = UNMAPPED_CODE
            elif code in (0, 10, 13, 0xFFFE, 0xFFFF) or 0xDC00 <= code <= 0xDFFF:
                continue  # none, line breaks, or the low half of a pair (joined below)
            elif code == 32 and generated(raw, i) == 1:
                continue  # a space pdfium inserted itself
            right = None
            if 0xD800 <= code <= 0xDBFF:  # characters beyond U+FFFF come as UTF-16 pairs
                low = codes[i + 1] if i + 1 < count else 0
                ok = 0xDC00 <= low <= 0xDFFF
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00) if ok else 0xFFFD
                if ok:  # the glyph's box may sit on either half
                    loose_box(raw, i + 1, rect)
                    right = rect.right
            loose_box(raw, i, rect)
            obj = text_object(raw, i)
            if obj != last_obj:
                if mapped is not None:
                    mapped.add(obj)
                # one text object is one string shown at one position: its characters share
                # font, size, matrix and baseline
                origin(raw, i, x, y)
                pdfium_c.FPDFText_GetMatrix(raw, i, matrix)
                scale = abs(matrix.a * matrix.d - matrix.b * matrix.c) ** 0.5
                size, last_obj, baseline = pdfium_c.FPDFText_GetFontSize(raw, i) * scale, obj, height - y.value
                upright = not is_turned(matrix.a, matrix.b, matrix.c, matrix.d)
                target = out if upright else (turned if turned is not None else [])
                if not upright:  # each turned character sits on its own baseline
                    baseline = height - rect.bottom
            elif not upright:
                baseline = height - rect.bottom
            target.append(Char(chr(code), rect.left, rect.right if right is None else max(rect.right, right),
                               baseline, size))
    finally:
        textpage.close()
    return out


# PDFium's text page can leave out a text object altogether: one drawn in a CJK font the PDF
# does not embed (STSong-Light, 宋体 referenced by name) when the machine has no CJK font to
# stand in (seen: a lone character wrapped onto its own line in a table cell), or a lone
# space shown in a font subset of its own (PDFium puts a generated space there instead).
# pdfminer reads every object through the font's CMap whatever the machine has, so such a
# page is read through pdfplumber: the fast path is used only where it has every object.
FONT_FALLBACK_WARNING = "read with pdfplumber: PDFium's text page left out text objects"


def _unmapped_fonts(page: pdfium.PdfPage, mapped: set[int]) -> list[str]:
    """Fonts of the page's text objects that gave PDFium's text page no character, named
    with ``(not embedded)`` where the PDF does not carry the font; empty when all are there."""
    names: set[str] = set()
    for k in range(pdfium_c.FPDFPage_CountObjects(page.raw)):
        obj = pdfium_c.FPDFPage_GetObject(page.raw, k)
        if pdfium_c.FPDFPageObj_GetType(obj) != pdfium_c.FPDF_PAGEOBJ_TEXT:
            continue
        if ctypes.cast(obj, ctypes.c_void_p).value in mapped:
            continue
        font = pdfium_c.FPDFTextObj_GetFont(obj)
        embedded = bool(font) and pdfium_c.FPDFFont_GetIsEmbedded(font)
        names.add(_font_name(font) + ("" if embedded else " (not embedded)"))
    return sorted(names)


def _font_name(font) -> str:
    if not font:
        return "unknown font"
    buffer = ctypes.create_string_buffer(256)
    size = pdfium_c.FPDFFont_GetBaseFontName(font, buffer, len(buffer))
    return buffer.raw[: max(size - 1, 0)].decode("latin-1", "replace") or "unnamed font"


def _address(func):
    """``func`` returning a bare pointer value (an int), cheap to compare, not a ctypes object."""
    fast = ctypes.CFUNCTYPE(ctypes.c_void_p, *func.argtypes)(ctypes.cast(func, ctypes.c_void_p).value)
    return fast


def _pdfium_edges(page: pdfium.PdfPage, height: float) -> list[dict] | None:
    """Horizontal and vertical ruling edges from the page's path objects, in pdfplumber's
    edge format; None when paths sit inside form XObjects (left to pdfplumber)."""
    edges: list[dict] = []
    matrix = pdfium_c.FS_MATRIX()
    x, y = ctypes.c_float(), ctypes.c_float()
    for k in range(pdfium_c.FPDFPage_CountObjects(page.raw)):
        obj = pdfium_c.FPDFPage_GetObject(page.raw, k)
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        if kind == pdfium_c.FPDF_PAGEOBJ_FORM and pdfium_c.FPDFFormObj_CountObjects(obj) > 0:
            return None
        if kind != pdfium_c.FPDF_PAGEOBJ_PATH:
            continue
        pdfium_c.FPDFPageObj_GetMatrix(obj, matrix)
        points: list[tuple[float, float]] = []
        for n in range(pdfium_c.FPDFPath_CountSegments(obj)):
            seg = pdfium_c.FPDFPath_GetPathSegment(obj, n)
            pdfium_c.FPDFPathSegment_GetPoint(seg, x, y)
            px = matrix.a * x.value + matrix.c * y.value + matrix.e
            py = height - (matrix.b * x.value + matrix.d * y.value + matrix.f)
            if pdfium_c.FPDFPathSegment_GetType(seg) == pdfium_c.FPDF_SEGMENT_MOVETO:
                points = [(px, py)]
                continue
            if points:
                _add_edge(edges, points[-1], (px, py))
            points.append((px, py))
            if pdfium_c.FPDFPathSegment_GetClose(seg) and len(points) > 2:
                _add_edge(edges, points[-1], points[0])
    return edges


def _add_edge(edges: list[dict], a: tuple[float, float], b: tuple[float, float]) -> None:
    (ax, ay), (bx, by) = a, b
    if abs(ay - by) < 0.5:
        x0, x1, top = min(ax, bx), max(ax, bx), (ay + by) / 2
        edges.append({"x0": x0, "x1": x1, "top": top, "bottom": top, "width": x1 - x0, "height": 0.0,
                      "doctop": top, "orientation": "h", "object_type": "line"})
    elif abs(ax - bx) < 0.5:
        top, bottom, x0 = min(ay, by), max(ay, by), (ax + bx) / 2
        edges.append({"x0": x0, "x1": x0, "top": top, "bottom": bottom, "width": 0.0, "height": bottom - top,
                      "doctop": top, "orientation": "v", "object_type": "line"})


def _has_objects(page: pdfium.PdfPage, kind: int, at_least: int) -> bool:
    """Does the page hold at least ``at_least`` objects of ``kind`` (paths: maybe rulings)?
    A form XObject with content counts as a hit: what it holds is not looked into here."""
    found = 0
    for k in range(pdfium_c.FPDFPage_CountObjects(page.raw)):
        obj = pdfium_c.FPDFPage_GetObject(page.raw, k)
        got = pdfium_c.FPDFPageObj_GetType(obj)
        if got == kind or (got == pdfium_c.FPDF_PAGEOBJ_FORM and pdfium_c.FPDFFormObj_CountObjects(obj) > 0):
            found += 1
            if found >= at_least:
                return True
    return False


def _auto(path: str | Path) -> PdfReader:
    """pypdfium2, or pdfplumber where pdfium cannot open the file (it may still parse)."""
    try:
        return PdfiumReader(path)
    except PdfError as exc:
        if exc.reason == "encrypted":
            raise
        try:
            return PlumberReader(path)
        except PdfError:
            raise exc from None


BACKENDS = {"pdfplumber": PlumberReader, "pdfium": PdfiumReader, "auto": _auto}


@contextmanager
def open_pdf(path: str | Path, backend: str = "auto") -> Iterator[PdfReader]:
    if backend not in BACKENDS:
        raise ValueError(f"unknown PDF backend {backend!r}; choose from {sorted(BACKENDS)}")
    reader = BACKENDS[backend](path)
    try:
        yield reader
    finally:
        reader.close()
