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
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from pipeline.extract import pdfminer_spacing
from pipeline.extract.chars import Char, chars_to_lines, page_lines
from pipeline.extract.plumber_grid import grids, object_edges
from pipeline.model import Page, PageTable
from pipeline.settings import DEFAULT_LAYOUT, DEFAULT_TABLES, Settings, TableSettings, TextLayoutSettings

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



# marks a grid position covered by a merged (spanning) cell
SPANNED = "\x00"
# what a glyph without a Unicode mapping reads as, in both backends (pipeline.quality counts them)
UNMAPPED_CODE = 0xFFFD
UNMAPPED = chr(UNMAPPED_CODE)


def page_tables(page: pdfplumber.page.Page, warnings: list[str] | None = None, chars: list[Char] | None = None,
                layout: TextLayoutSettings = DEFAULT_LAYOUT, tables: TableSettings = DEFAULT_TABLES) -> list[PageTable]:
    """Ruled tables on an open pdfplumber page (edges from pdfminer's drawing objects).

    A page whose drawing pdfminer cannot interpret yields no tables and a warning (its
    text is still read), rather than failing the document.
    """
    try:
        edges = [e for e in _plumber_ruling_objects(page) for e in object_edges(e)]
        edges = [e for e in edges if e["orientation"] in ("h", "v")]
        return ruled_tables(edges, _plumber_chars(page) if chars is None else chars, page.page_number, layout, tables)
    except Exception as exc:  # pdfminer raises assorted types on broken content streams
        if warnings is not None:
            warnings.append(f"page {page.page_number}: tables not read ({type(exc).__name__}: {exc})"[:300])
        return []


def ruled_tables(edges: list[dict], chars: list[Char], page_no: int, layout: TextLayoutSettings = DEFAULT_LAYOUT,
                 tables: TableSettings = DEFAULT_TABLES) -> list[PageTable]:
    """Ruled tables from ruling edges and the page's characters, whichever backend found them.

    pdfplumber's own table algorithm (``plumber_grid``); cell text comes from our characters
    (lines as ``layout`` groups them), so both backends fill cells the same way.
    """
    found = []
    for table in grids(edges, tables.snap_tolerance_pt):
        bands = _row_bands(_within(chars, table.bbox), [r.bbox[1] for r in table.rows])
        grid = [[None if cell is None else
                 _cell_text(_band_chars(bands, cell, tables.band_slack_pt), cell, page_no, layout)
                 for cell in row.cells] for row in table.rows]
        if (not grid or max(len(r) for r in grid) < tables.min_table_columns
                or not _holds_text_as_a_table(grid, _within(chars, table.bbox), page_no, layout)):
            continue
        xs = sorted({round(c[0], 1) for c in table.cells} | {round(c[2], 1) for c in table.cells})
        col_edges: list[float] = []
        for x in xs:
            if not col_edges or x - col_edges[-1] > tables.column_edge_merge_pt:
                col_edges.append(x)
        found.append(PageTable(
            page_no=page_no,
            bbox=tuple(round(v, 2) for v in table.bbox),
            rows=tuple(tuple(row) for row in _fill_spans(table, grid)),
            col_edges=tuple(col_edges),
            ruled=True,
            cut_cells=_cut_cells(table, chars, page_no, layout, tables.full_line_room_em),
        ))
    return found


def _cut_cells(table, chars: list[Char], page_no: int, layout: TextLayoutSettings,
               room_em: float) -> tuple[int, ...]:
    """Columns whose cell in the bottom row (a merged cell reaching the foot included) ends
    in a full line (less than ``room_em`` font sizes left after it): at the foot of a page,
    its text may go on in the same cell overleaf."""
    y = (table.rows[-1].bbox[1] + table.bbox[3]) / 2
    inside = _within(chars, table.bbox)
    out = []
    for j, column in enumerate(table.columns):
        x = (column.bbox[0] + column.bbox[2]) / 2
        cell = next((c for c in table.cells if c[0] <= x <= c[2] and c[1] <= y <= c[3]), None)
        lines = chars_to_lines(_within(inside, cell), page_no, layout) if cell else []
        if lines:
            last = max(lines, key=lambda ln: ln.bbox[3])
            if (cell[2] - cell[0]) - (last.bbox[2] - last.bbox[0]) < room_em * (last.font_size or 0):
                out.append(j)
    return tuple(out)


def _holds_text_as_a_table(grid: list[list[str | None]], chars: list[Char], page_no: int,
                           layout: TextLayoutSettings) -> bool:
    """Does the grid hold text the way a table does: in at least two rows, or in two
    columns of one row that are not one line of text run across the cells? A box around
    one line (a highlight, a boxed heading, a text frame, boxes drawn behind the runs of
    one line) does not, however many cells its edges make. A grid with no text at all may
    be the rest of a table from the page before: the tables stage decides."""
    filled = [(i, j) for i, row in enumerate(grid) for j, text in enumerate(row) if text and text.strip()]
    if not filled or len({i for i, _ in filled}) >= 2:
        return True
    return len({j for _, j in filled}) >= 2 and len(chars_to_lines(chars, page_no, layout)) > 1


def _row_bands(chars: list[Char], tops: list[float]) -> list[tuple[float, list[Char]]]:
    """Characters bucketed by the table row band their middle falls in, so each cell looks
    only at the rows it spans."""
    bands: list[tuple[float, list[Char]]] = [(top, []) for top in tops]
    for c in chars:
        at = bisect.bisect_right(tops, c.baseline - c.size / 2) - 1
        bands[max(at, 0)][1].append(c)
    return bands


def _band_chars(bands: list[tuple[float, list[Char]]], bbox: tuple, slack: float) -> list[Char]:
    """The characters of the row bands that reach into ``bbox`` (give or take ``slack`` pt)."""
    top, bottom = bbox[1], bbox[3]
    out: list[Char] = []
    for k, (band_top, chars) in enumerate(bands):
        next_top = bands[k + 1][0] if k + 1 < len(bands) else float("inf")
        if next_top > top - slack and band_top < bottom + slack:
            out += chars
    return out


def _within(chars: list[Char], bbox: tuple) -> list[Char]:
    """Characters whose centre lies in ``bbox``."""
    x0, top, x1, bottom = bbox
    return [c for c in chars if x0 <= (c.x0 + c.x1) / 2 <= x1 and top <= c.baseline - c.size / 2 <= bottom]


def _cell_text(chars: list[Char], bbox: tuple, page_no: int, layout: TextLayoutSettings) -> str:
    """The cell's characters as lines of text, one per visual line."""
    return "\n".join(ln.text for ln in chars_to_lines(_within(chars, bbox), page_no, layout))


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


# share of the text matrix's scale: a ``b`` above it turns text by more than about 3 degrees
# (sin 3° = 0.052), which no upright line shows; below it is rounding in the producer's matrix
TURNED_SINE = 0.05


def is_turned(a: float, b: float, c: float, d: float) -> bool:
    """Text drawn at an angle (``b`` of its matrix is not 0): a diagonal watermark, a vertical
    stamp. A shear alone (``c``, a slanted italic) is upright text."""
    scale = abs(a * d - b * c) ** 0.5 or 1.0
    return abs(b) > TURNED_SINE * scale


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


# --- rulings: only what shows on paper --------------------------------------------------
#
# A table is found from the page's rulings, and a ruling is a drawn line or box edge that a
# reader can see. Producers draw much that cannot be seen: a legal-database export (WPS,
# then Aspose) paints a white, unstroked rectangle behind every text run, about 60 a page,
# and each would be four edges. A shape shows when it is stroked in a colour other than the
# page's background, or filled (with a non-zero width and height) in such a colour, and it
# lies on the page. Both backends decide with ``paints`` on the same facts: PDFium from a
# path object's draw mode and colours, pdfplumber from pdfminer's ``stroke``/``fill`` flags
# and colours. (A clipping path is no drawn shape for either. Clip paths inside the page and
# transparency are not looked at: pdfminer reports neither.)

RGB = tuple[float, float, float]
WHITE: RGB = (1.0, 1.0, 1.0)  # the page background unless a shape paints the page
# colours whose channels (0..1) differ by at most this look the same on paper (rounding,
# a colour-space round trip)
SAME_COLOUR = 0.02
# a filled shape covering at least this share of the page's width and of its height is the
# page's background: shapes in its colour cannot be seen on it
BACKGROUND_COVER = 0.95
# pt: a shape further than this outside the page box is clipped away by the page
PAGE_SLACK = 1.0


def paints(stroked: bool, stroke: RGB | None, filled: bool, fill: RGB | None,
           size: tuple[float, float], background: RGB) -> bool:
    """Does a shape leave a mark on the page? ``None`` colours (patterns, unknown spaces)
    count as visible; a fill of zero width or height paints nothing."""
    if stroked and _differs(stroke, background):
        return True
    return filled and size[0] > 0 and size[1] > 0 and _differs(fill, background)


def _differs(colour: RGB | None, background: RGB) -> bool:
    return colour is None or max(abs(a - b) for a, b in zip(colour, background, strict=True)) > SAME_COLOUR


def _on_page(x0: float, top: float, x1: float, bottom: float, width: float, height: float) -> bool:
    return x1 >= -PAGE_SLACK and x0 <= width + PAGE_SLACK and bottom >= -PAGE_SLACK and top <= height + PAGE_SLACK


def _covers_page(size: tuple[float, float], width: float, height: float) -> bool:
    return size[0] >= BACKGROUND_COVER * width and size[1] >= BACKGROUND_COVER * height


def plumber_rgb(colour) -> RGB | None:
    """pdfminer's colour (a gray number, or an RGB or CMYK tuple, 0..1) as RGB; None for a
    pattern or another space. No colour set is black, as the PDF's default."""
    if colour is None:
        return (0.0, 0.0, 0.0)
    if isinstance(colour, int | float):
        colour = (colour,)
    if not isinstance(colour, tuple | list) or not all(isinstance(v, int | float) for v in colour):
        return None
    if len(colour) == 1:
        return (float(colour[0]),) * 3
    if len(colour) == 3:
        return (float(colour[0]), float(colour[1]), float(colour[2]))
    if len(colour) == 4:  # CMYK, converted as PDF 32000 §10.3.5 does without a profile
        c, m, y, k = colour
        return (1 - min(1.0, c + k), 1 - min(1.0, m + k), 1 - min(1.0, y + k))
    return None


def _plumber_ruling_objects(page: pdfplumber.page.Page) -> list[dict]:
    """The page's lines, rectangles and curves that can be seen (see ``paints``)."""
    shapes = [*page.rects, *page.curves, *page.lines]
    width, height = float(page.width), float(page.height)
    if (page.rotation or 0) % 180:  # pdfplumber places objects as displayed, but keeps the unturned size
        width, height = height, width

    def facts(o: dict) -> tuple:
        return (bool(o.get("stroke")), plumber_rgb(o.get("stroking_color")), bool(o.get("fill")),
                plumber_rgb(o.get("non_stroking_color")), (o["width"], o["height"]))

    background = next((f[3] for f in map(facts, shapes) if f[2] and f[3] and _covers_page(f[4], width, height)), WHITE)
    return [o for o in shapes if _on_page(o["x0"], o["top"], o["x1"], o["bottom"], width, height)
            and paints(*facts(o), background)]


def _has_rulings(page: pdfplumber.page.Page, least: int) -> bool:
    return len(page.lines) + len(page.rects) >= least


class PlumberReader:
    """The reference backend: pdfplumber for text and tables (geometry from ``settings``:
    its ``layout`` and ``tables``; the defaults when not given)."""

    def __init__(self, path: str | Path, settings: Settings | None = None):
        self._layout, self._tables = _geometry(settings)
        self._pdf = _open_plumber(path)
        self.n_pages = len(self._pdf.pages)

    def pages(self, start: int = 0, stop: int | None = None) -> Iterator[Page]:
        for page in self._pdf.pages[start:stop]:
            warnings: list[str] = []
            try:
                turned: list[Char] = []
                lines = page_lines(_plumber_chars(page, turned), turned, page.page_number, warnings, self._layout)
                tables = page_tables(page, warnings, layout=self._layout, tables=self._tables) \
                    if _has_rulings(page, self._tables.min_ruling_objects) else []
                yield Page(page.page_number, float(page.width), float(page.height), lines, tables, warnings=warnings)
            except Exception as exc:  # one unreadable page must not lose the document
                yield _unreadable(page.page_number, exc)
            finally:
                page.close()  # drops pdfminer's layout cache for this page

    def close(self) -> None:
        self._pdf.close()


def _geometry(settings: Settings | None) -> tuple[TextLayoutSettings, TableSettings]:
    return (settings.layout, settings.tables) if settings is not None else (DEFAULT_LAYOUT, DEFAULT_TABLES)


A4_PT = (595.0, 842.0)  # the size given to a page that cannot be read: the commonest page


def _unreadable(page_no: int, exc: Exception) -> Page:
    reason = f"page {page_no}: not readable, skipped ({type(exc).__name__}: {exc})"[:300]
    return Page(page_no, *A4_PT, [], [], warnings=[reason])


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
    """Fast backend: pypdfium2 characters; pdfplumber only for pages with ruling lines
    (geometry from ``settings`` as for ``PlumberReader``)."""

    def __init__(self, path: str | Path, settings: Settings | None = None):
        self._layout, self._tables = _geometry(settings)
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
            chars = _plumber_chars(page, turned) if with_chars else None
            return chars, page_tables(page, warnings, chars, layout=self._layout, tables=self._tables)
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
                texts, paths, forms = _census(page)
                # text objects but no characters: pdfium could not map this page's text
                uncertain = not chars and not turned and texts + forms > 0
                # every text object gave characters (forms hold objects of their own: look closer)
                complete = not forms and texts <= len(mapped)
                fonts: list[str] = []
                if not (uncertain or complete):
                    fonts, spaces = _left_out(page, mapped, height)
                    chars += spaces
                edges = _pdfium_edges(page, height) if paths + forms >= self._tables.min_ruling_objects else []
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
            tables = ruled_tables(edges, chars, index + 1, self._layout, self._tables)
        lines = page_lines(chars, turned, index + 1, warnings, self._layout)
        return Page(index + 1, float(width), float(height), lines, tables, warnings=warnings)

    def _plumber_whole_page(self, index: int) -> Page:
        """A page with /Rotate (a landscape page, its content drawn turned): pdfplumber reads it
        as displayed, where the text is upright; PDFium's text API gives unrotated coordinates."""
        warnings: list[str] = []
        turned: list[Char] = []
        chars, tables = self._plumber_page(index, True, warnings, turned)
        page = self._plumber.pages[index]
        lines = page_lines(chars or [], turned, index + 1, warnings, self._layout)
        return Page(index + 1, float(page.width), float(page.height), lines, tables, warnings=warnings)

    def _fallback_page(self, index: int, exc: Exception) -> Page:
        try:
            warnings = [f"page {index + 1}: read with pdfplumber ({type(exc).__name__}: {exc})"[:300]]
            turned: list[Char] = []
            chars, tables = self._plumber_page(index, True, warnings, turned)
            if chars is None:
                raise exc
            page = self._plumber.pages[index]
            lines = page_lines(chars, turned, index + 1, warnings, self._layout)
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
# pt: a text object whose bounds are no wider or taller than this paints no glyph: it shows
# a space (a glyph without ink), as producers that write each run as its own object write
# the space between two runs (Typst: 第一章 / space / 发展基础). PDFium's text page drops such
# an object and generates a space only where the gap is wide, which punctuation compression
# narrows (“十三五” 规划): the object is read as the space it is, at its origin, as pdfminer
# reads it, and it is no reason to read the page through pdfplumber
INKLESS_OBJECT_PT = 0.01


def _left_out(page: pdfium.PdfPage, mapped: set[int], height: float) -> tuple[list[str], list[Char]]:
    """The page's text objects that gave PDFium's text page no character: the fonts of those
    that show glyphs (named with ``(not embedded)`` where the PDF does not carry the font;
    empty when all are there), and a space for each in an embedded font that shows none
    (``INKLESS_OBJECT_PT``)."""
    names: set[str] = set()
    spaces: list[Char] = []
    for k in range(pdfium_c.FPDFPage_CountObjects(page.raw)):
        obj = pdfium_c.FPDFPage_GetObject(page.raw, k)
        if pdfium_c.FPDFPageObj_GetType(obj) != pdfium_c.FPDF_PAGEOBJ_TEXT:
            continue
        if ctypes.cast(obj, ctypes.c_void_p).value in mapped:
            continue
        font = pdfium_c.FPDFTextObj_GetFont(obj)
        embedded = bool(font) and pdfium_c.FPDFFont_GetIsEmbedded(font)
        if embedded and (space := _inkless_space(obj, height)) is not None:
            spaces.append(space)
            continue
        names.add(_font_name(font) + ("" if embedded else " (not embedded)"))
    return sorted(names), spaces


def _inkless_space(obj, height: float) -> Char | None:
    """A text object in an embedded font that paints nothing (its bounds have no width or no
    height: the glyph origin) as a space character there, in the text's size; None for one
    that shows ink. Only an embedded font's bounds tell: without the font (a CJK font named,
    not embedded, on a machine without it) PDFium has no outline to measure a 心 by either."""
    left, bottom, right, top = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    if not pdfium_c.FPDFPageObj_GetBounds(obj, left, bottom, right, top):
        return None
    if min(right.value - left.value, top.value - bottom.value) > INKLESS_OBJECT_PT:
        return None
    size, matrix = ctypes.c_float(), pdfium_c.FS_MATRIX()
    pdfium_c.FPDFTextObj_GetFontSize(obj, size)
    pdfium_c.FPDFPageObj_GetMatrix(obj, matrix)
    scale = abs(matrix.a * matrix.d - matrix.b * matrix.c) ** 0.5
    return Char(" ", left.value, left.value, height - bottom.value, size.value * scale)


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
    """Horizontal and vertical ruling edges of the page's path objects that can be seen (see
    ``paints``), in pdfplumber's edge format; None when paths sit inside form XObjects (left
    to pdfplumber). Whether a path shows is asked first (four calls), so that the segments
    are read only for the paths that do: a legal-database export draws 60 unseen a page."""
    width = page.get_width()
    paths: list[tuple[object, tuple]] = []
    for k in range(pdfium_c.FPDFPage_CountObjects(page.raw)):
        obj = pdfium_c.FPDFPage_GetObject(page.raw, k)
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        if kind == pdfium_c.FPDF_PAGEOBJ_FORM and pdfium_c.FPDFFormObj_CountObjects(obj) > 0:
            return None
        if kind == pdfium_c.FPDF_PAGEOBJ_PATH:
            paths.append((obj, _pdfium_look(obj, height)))
    background = next((f[3] for _, f in paths if f[2] and f[3] and _covers_page(f[4], width, height)), WHITE)
    edges: list[dict] = []
    for obj, (stroked, stroke, filled, fill, size, box) in paths:
        if _on_page(*box, width, height) and paints(stroked, stroke, filled, fill, size, background):
            for a, b in _pdfium_segments(obj, height):
                _add_edge(edges, a, b)
    return edges


def _pdfium_look(obj, height: float) -> tuple:
    """What a path object shows: (stroked, stroke RGB, filled, fill RGB, (width, height),
    top-left bbox)."""
    fill_mode, stroked = ctypes.c_int(), ctypes.c_int()
    pdfium_c.FPDFPath_GetDrawMode(obj, fill_mode, stroked)
    left, bottom, right, top = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    pdfium_c.FPDFPageObj_GetBounds(obj, left, bottom, right, top)
    box = (left.value, height - top.value, right.value, height - bottom.value)
    return (bool(stroked.value), _pdfium_rgb(obj, pdfium_c.FPDFPageObj_GetStrokeColor),
            fill_mode.value != pdfium_c.FPDF_FILLMODE_NONE, _pdfium_rgb(obj, pdfium_c.FPDFPageObj_GetFillColor),
            (right.value - left.value, top.value - bottom.value), box)


def _pdfium_segments(obj, height: float) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """A path object's straight segments, closing ones included, in top-left page points."""
    matrix = pdfium_c.FS_MATRIX()
    x, y = ctypes.c_float(), ctypes.c_float()
    pdfium_c.FPDFPageObj_GetMatrix(obj, matrix)
    segments: list[tuple[tuple[float, float], tuple[float, float]]] = []
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
            segments.append((points[-1], (px, py)))
        points.append((px, py))
        if pdfium_c.FPDFPathSegment_GetClose(seg) and len(points) > 2:
            segments.append((points[-1], points[0]))
    return segments


def _pdfium_rgb(obj, getter) -> RGB | None:
    """A path object's stroke or fill colour as RGB in 0..1 (PDFium converts gray and CMYK);
    None when PDFium gives none (a pattern)."""
    r, g, b, a = ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint()
    if not getter(obj, r, g, b, a):
        return None
    return (r.value / 255, g.value / 255, b.value / 255)


# pt: a segment whose ends differ by less than this in y (in x) is a horizontal (vertical)
# ruling; a slanted stroke is no ruling (pdfplumber makes edges of straight lines only)
AXIS_SLACK_PT = 0.5


def _add_edge(edges: list[dict], a: tuple[float, float], b: tuple[float, float]) -> None:
    (ax, ay), (bx, by) = a, b
    if abs(ay - by) < AXIS_SLACK_PT:
        x0, x1, top = min(ax, bx), max(ax, bx), (ay + by) / 2
        edges.append({"x0": x0, "x1": x1, "top": top, "bottom": top, "width": x1 - x0, "height": 0.0,
                      "doctop": top, "orientation": "h", "object_type": "line"})
    elif abs(ax - bx) < AXIS_SLACK_PT:
        top, bottom, x0 = min(ay, by), max(ay, by), (ax + bx) / 2
        edges.append({"x0": x0, "x1": x0, "top": top, "bottom": bottom, "width": 0.0, "height": bottom - top,
                      "doctop": top, "orientation": "v", "object_type": "line"})


def _census(page: pdfium.PdfPage) -> tuple[int, int, int]:
    """(text objects, path objects, form XObjects with content) at the page's top level, in
    one pass: what a form holds is not looked into here."""
    texts = paths = forms = 0
    text_kind, path_kind, form_kind = pdfium_c.FPDF_PAGEOBJ_TEXT, pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_FORM
    for k in range(pdfium_c.FPDFPage_CountObjects(page.raw)):
        obj = pdfium_c.FPDFPage_GetObject(page.raw, k)
        got = pdfium_c.FPDFPageObj_GetType(obj)
        if got == text_kind:
            texts += 1
        elif got == path_kind:
            paths += 1
        elif got == form_kind and pdfium_c.FPDFFormObj_CountObjects(obj) > 0:
            forms += 1
    return texts, paths, forms


def _auto(path: str | Path, settings: Settings | None = None) -> PdfReader:
    """pypdfium2, or pdfplumber where pdfium cannot open the file (it may still parse)."""
    try:
        return PdfiumReader(path, settings)
    except PdfError as exc:
        if exc.reason == "encrypted":
            raise
        try:
            return PlumberReader(path, settings)
        except PdfError:
            raise exc from None


BACKENDS = {"pdfplumber": PlumberReader, "pdfium": PdfiumReader, "auto": _auto}


@contextmanager
def open_pdf(path: str | Path, backend: str = "auto", settings: Settings | None = None) -> Iterator[PdfReader]:
    """A reader of ``path`` by ``backend``; ``settings``' ``layout`` and ``tables`` shape its
    lines and tables (the defaults when not given)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown PDF backend {backend!r}; choose from {sorted(BACKENDS)}")
    reader = BACKENDS[backend](path, settings)
    try:
        yield reader
    finally:
        reader.close()
