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
from typing import NamedTuple, Protocol

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


# --- page geometry: every coordinate as the page is displayed -------------------------
#
# A viewer shows the CropBox (within the MediaBox; the MediaBox when there is none) turned
# clockwise by /Rotate. Real files do not all start at (0, 0) upright: landscape table pages
# are portrait MediaBoxes with /Rotate 90 or 270, scanned or cropped files have a CropBox
# inside the MediaBox or a MediaBox such as [0 -842 595 0]. Both backends give characters and
# rulings in one frame, the displayed page's: origin at its top-left corner, y down, its size
# the Page's width and height. So the furniture bands, the table geometry and everything after
# extraction see the page a reader sees. Each backend maps its own coordinates into that frame
# with one translation per page (``Frame``), worked out once from the page's boxes; pdfminer
# turns a page by its /Rotate itself, and PDFium's objects are turned in memory before its
# text page is made (``_turn``), so neither backend does per-character work for a turn.
#
# Text whose middle lies outside the displayed page (a printer's slug, a scan stamp beyond the
# CropBox) is not read, neither as text nor as removed furniture: a viewer does not show it,
# so it is not part of the page as published. pdfplumber reads every character in the MediaBox
# and PDFium's text page most of them (it leaves some out); both are cut to the displayed page
# by the same rule, the characters' middles.


class Frame(NamedTuple):
    """The displayed page inside the displayed MediaBox: its top-left corner (``left``, ``top``,
    in points from the displayed MediaBox's top-left corner, y down) and its size. ``cropped``:
    the CropBox cuts into the MediaBox, so text may lie outside what is shown."""

    left: float
    top: float
    width: float
    height: float
    cropped: bool


def _displayed(x: float, y: float, media: tuple[float, float, float, float], rotation: int) -> tuple[float, float]:
    """A point of PDF user space in the frame of the displayed MediaBox (top-left origin, y
    down) of a page turned clockwise by ``rotation`` degrees (PDF 32000 §7.7.3.3, /Rotate)."""
    x0, y0, x1, y1 = media
    if rotation == 90:
        return y - y0, x - x0
    if rotation == 180:
        return x1 - x, y - y0
    if rotation == 270:
        return y1 - y, x1 - x
    return x - x0, y1 - y


def _box(raw) -> tuple[float, float, float, float]:
    """A PDF rectangle by any two opposite corners (PDF 32000 §7.9.5) as (x0, y0, x1, y1)."""
    a, b, c, d = (float(v) for v in raw)
    return min(a, c), min(b, d), max(a, c), max(b, d)


def page_frame(mediabox, cropbox, rotation: int) -> Frame:
    """The displayed page (the CropBox clipped to the MediaBox, turned by ``rotation``) within
    the displayed MediaBox."""
    media = _box(mediabox)
    crop = _box(cropbox) if cropbox is not None else media
    crop = (max(crop[0], media[0]), max(crop[1], media[1]), min(crop[2], media[2]), min(crop[3], media[3]))
    if crop[2] <= crop[0] or crop[3] <= crop[1]:  # a CropBox off the MediaBox: the MediaBox shows
        crop = media
    rotation = rotation % 360
    corners = [_displayed(x, y, media, rotation) for x in (crop[0], crop[2]) for y in (crop[1], crop[3])]
    left, top = min(p[0] for p in corners), min(p[1] for p in corners)
    width, height = max(p[0] for p in corners) - left, max(p[1] for p in corners) - top
    return Frame(left, top, width, height, crop != media)


def _shown(chars: list[Char], frame: Frame) -> list[Char]:
    """The characters whose middle lies on the displayed page (all, when nothing is cut off)."""
    if not frame.cropped:
        return chars
    w, h = frame.width, frame.height
    return [c for c in chars if 0 <= (c.x0 + c.x1) / 2 <= w and 0 <= c.baseline - c.size / 2 <= h]


HIDDEN_TEXT_WARNING = "text outside the CropBox (not shown by a viewer) was not read"


def _note_hidden(before: list[Char], after: list[Char], page_no: int, warnings: list[str] | None) -> None:
    """Nothing is left out silently: a page whose visible characters were cut to what it shows
    says so (no count: the two backends see different spaces out there)."""
    note = f"page {page_no}: {HIDDEN_TEXT_WARNING}"
    if warnings is not None and note not in warnings and len(after) < len(before) and \
            sum(not c.text.isspace() for c in before) > sum(not c.text.isspace() for c in after):
        warnings.append(note)


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
        frame, dx, dtop = plumber_frame(page)
        edges = [_moved(e, dx, dtop) for o in _plumber_ruling_objects(page, frame, dx, dtop) for e in object_edges(o)]
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


def plumber_frame(page: pdfplumber.page.Page) -> tuple[Frame, float, float]:
    """The page's ``Frame`` and the shift (dx, dtop) from pdfplumber's coordinates into it.
    pdfplumber places objects in pdfminer's frame (the displayed MediaBox, y down) moved by
    the first corner of its own ``mediabox`` (which it derives from the MediaBox's corners)."""
    obj = page.page_obj
    frame = page_frame(obj.mediabox, obj.cropbox, page.rotation)
    return frame, float(page.mediabox[0]) + frame.left, float(page.mediabox[1]) + frame.top


def _moved(obj: dict, dx: float, dtop: float) -> dict:
    """A pdfplumber object or edge (a new dict) moved into the page's frame."""
    return {**obj, "x0": obj["x0"] - dx, "x1": obj["x1"] - dx, "top": obj["top"] - dtop,
            "bottom": obj["bottom"] - dtop, "doctop": obj["top"] - dtop}


def _plumber_chars(page: pdfplumber.page.Page, turned: list[Char] | None = None,
                   warnings: list[str] | None = None) -> list[Char]:
    """Upright characters of a page, in its frame and on what it shows; turned ones go to
    ``turned`` when given (else dropped); text cut off by the CropBox is noted in ``warnings``."""
    frame, dx, dtop = plumber_frame(page)
    out = []
    for c in page.chars:
        text = c["text"]
        if len(text) != 1:
            if text == "(cid:0)":
                continue  # CID 0 is .notdef, the glyph for "no glyph": PDFium's text page has no character there
            text = UNMAPPED if text.startswith("(cid:") else text  # (cid:N): a glyph with no Unicode mapping
        # the baseline in pdfplumber's coordinates is top + (y1 - origin y)
        char = Char(text, c["x0"] - dx, c["x1"] - dx, c["top"] + c["y1"] - c["matrix"][5] - dtop, c["size"])
        if c.get("upright", True) and not is_turned(*c["matrix"][:4]):
            out.append(char)
        elif turned is not None:
            turned.append(char)
    if turned:
        shown_turned = _shown(turned, frame)
        _note_hidden(turned, shown_turned, page.page_number, warnings)
        turned[:] = shown_turned
    shown = _shown(out, frame)
    _note_hidden(out, shown, page.page_number, warnings)
    return shown


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


def _plumber_ruling_objects(page: pdfplumber.page.Page, frame: Frame, dx: float, dtop: float) -> list[dict]:
    """The page's lines, rectangles and curves that can be seen (see ``paints``), as
    pdfplumber gives them (``dx``, ``dtop``: the shift into ``frame``)."""
    shapes = [*page.rects, *page.curves, *page.lines]
    width, height = frame.width, frame.height

    def facts(o: dict) -> tuple:
        return (bool(o.get("stroke")), plumber_rgb(o.get("stroking_color")), bool(o.get("fill")),
                plumber_rgb(o.get("non_stroking_color")), (o["width"], o["height"]))

    background = next((f[3] for f in map(facts, shapes) if f[2] and f[3] and _covers_page(f[4], width, height)), WHITE)
    return [o for o in shapes if _on_page(o["x0"] - dx, o["top"] - dtop, o["x1"] - dx, o["bottom"] - dtop, width, height)
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
                lines = page_lines(_plumber_chars(page, turned, warnings), turned, page.page_number, warnings,
                                   self._layout)
                tables = page_tables(page, warnings, layout=self._layout, tables=self._tables) \
                    if _has_rulings(page, self._tables.min_ruling_objects) else []
                frame = plumber_frame(page)[0]
                yield Page(page.page_number, frame.width, frame.height, lines, tables, warnings=warnings)
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
            chars = _plumber_chars(page, turned, warnings) if with_chars else None
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
            try:
                frame, dx, top = _pdfium_frame(page)
                turned: list[Char] = []
                mapped: set[int] = set()
                chars = _pdfium_chars(page, top, turned, mapped)
                read = chars + turned if frame.cropped else []  # what a crop may cut (for the note)
                if dx or frame.cropped:
                    chars, turned = _in_frame(chars, frame, dx), _in_frame(turned, frame, dx)
                texts, paths, forms = _census(page)
                # text objects but no characters: pdfium could not map this page's text
                uncertain = not chars and not turned and texts + forms > 0
                # every text object gave characters (forms hold objects of their own: look closer)
                complete = not forms and texts <= len(mapped)
                fonts: list[str] = []
                if not (uncertain or complete):
                    fonts, spaces = _left_out(page, mapped, (dx, top - frame.height, dx + frame.width, top), top)
                    chars += _in_frame(spaces, frame, dx) if dx or frame.cropped else spaces
                edges = _pdfium_edges(page, frame, dx, top) if paths + forms >= self._tables.min_ruling_objects else []
            finally:
                page.close()
        tables: list[PageTable] = []
        warnings: list[str] = []
        if read:
            _note_hidden(read, chars + turned, index + 1, warnings)
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
        return Page(index + 1, frame.width, frame.height, lines, tables, warnings=warnings)

    def _fallback_page(self, index: int, exc: Exception) -> Page:
        try:
            warnings = [f"page {index + 1}: read with pdfplumber ({type(exc).__name__}: {exc})"[:300]]
            turned: list[Char] = []
            chars, tables = self._plumber_page(index, True, warnings, turned)
            if chars is None:
                raise exc
            frame = plumber_frame(self._plumber.pages[index])[0]
            lines = page_lines(chars, turned, index + 1, warnings, self._layout)
            return Page(index + 1, frame.width, frame.height, lines, tables, warnings=warnings)
        except Exception as again:
            return _unreadable(index + 1, again)

    def close(self) -> None:
        if self._plumber is not None:
            self._plumber.close()
        with PDFIUM_LOCK:
            self._doc.close()


def _pdfium_frame(page: pdfium.PdfPage) -> tuple[Frame, float, float]:
    """The page's ``Frame``, with the x of its left edge and the y of its top edge in the
    page's user space: a point (x, y) shows at (x - left, top - y). A page with /Rotate is
    first turned as displayed (``_turn``), so PDFium's text page reads it upright."""
    media, crop = _pdfium_boxes(page)
    rotation = page.get_rotation() % 360
    frame = page_frame(media, crop, rotation)
    if not rotation:
        return frame, media[0] + frame.left, media[3] - frame.top
    _turn(page, _TURNS[rotation](*media))
    height = media[2] - media[0] if rotation % 180 else media[3] - media[1]  # of the displayed MediaBox
    return frame, frame.left, height - frame.top


def _pdfium_boxes(page: pdfium.PdfPage) -> tuple[tuple[float, float, float, float], tuple[float, float, float, float]]:
    """The page's MediaBox and CropBox. PDFium's box calls read the page's own entries only,
    not those it inherits from the page tree (crbug.com/pdfium/1786; fpdf2 and others write one
    MediaBox for all pages there), where pypdfium2 answers Letter size: an inherited box is
    PDFium's own page box, the CropBox within the MediaBox, which it does inherit."""
    shown = _box(page.get_bbox())
    media, crop = page.get_mediabox(fallback_ok=False), page.get_cropbox(fallback_ok=False)
    return (_box(media) if media is not None else shown), (_box(crop) if crop is not None else shown)


# /Rotate (clockwise degrees) -> the matrix (a, b, c, d, e, f) taking a MediaBox (x0, y0, x1, y1)
# to the page as displayed, origin at its bottom left (pdfminer's page matrix, the same turn)
_TURNS = {
    90: lambda x0, y0, x1, y1: (0, -1, 1, 0, -y0, x1),
    180: lambda x0, y0, x1, y1: (-1, 0, 0, -1, x1, y1),
    270: lambda x0, y0, x1, y1: (0, 1, -1, 0, y1, -x0),
}


def _turn(page: pdfium.PdfPage, matrix: tuple[float, ...]) -> None:
    """Turn every object of the loaded page by ``matrix`` (one call per top-level object, in
    memory: the file is not changed), so that its text and rulings come out as displayed.
    PDFium's text page is made from the objects as they are, and is made after this."""
    for k in range(pdfium_c.FPDFPage_CountObjects(page.raw)):
        pdfium_c.FPDFPageObj_Transform(pdfium_c.FPDFPage_GetObject(page.raw, k), *matrix)


def _in_frame(chars: list[Char], frame: Frame, dx: float) -> list[Char]:
    """Characters moved left by ``dx`` into the page's frame, those it does not show left out:
    one pass, on the pages whose box does not start at x = 0 or is cropped."""
    moved = [Char(c.text, c.x0 - dx, c.x1 - dx, c.baseline, c.size) for c in chars] if dx else chars
    return _shown(moved, frame)


def _pdfium_chars(page: pdfium.PdfPage, top: float, turned: list[Char] | None = None,
                  mapped: set[int] | None = None) -> list[Char]:
    """Upright characters of one page (baselines measured down from ``top``, the y of the
    displayed page's top edge; x as in PDF user space); turned ones go to ``turned`` when
    given, and the text objects that gave characters to ``mapped``. The hot loop of the fast
    path: the page's text comes in one call, and font size and matrix are asked for once per
    text object."""
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
                size, last_obj, baseline = pdfium_c.FPDFText_GetFontSize(raw, i) * scale, obj, top - y.value
                upright = not is_turned(matrix.a, matrix.b, matrix.c, matrix.d)
                target = out if upright else (turned if turned is not None else [])
                if not upright:  # each turned character sits on its own baseline
                    baseline = top - rect.bottom
            elif not upright:
                baseline = top - rect.bottom
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


def _left_out(page: pdfium.PdfPage, mapped: set[int], shown: tuple[float, float, float, float],
              top: float) -> tuple[list[str], list[Char]]:
    """The page's text objects that gave PDFium's text page no character: the fonts of those
    that show glyphs (named with ``(not embedded)`` where the PDF does not carry the font;
    empty when all are there), and a space for each in an embedded font that shows none
    (``INKLESS_OBJECT_PT``; baselines measured down from ``top``, x in user space, as
    ``_pdfium_chars`` gives them). Objects wholly outside ``shown`` (the displayed page, user
    space) do not count: their text is not read (PDFium leaves out some, such as a lone space
    beyond the CropBox)."""
    names: set[str] = set()
    spaces: list[Char] = []
    for k in range(pdfium_c.FPDFPage_CountObjects(page.raw)):
        obj = pdfium_c.FPDFPage_GetObject(page.raw, k)
        if pdfium_c.FPDFPageObj_GetType(obj) != pdfium_c.FPDF_PAGEOBJ_TEXT:
            continue
        if ctypes.cast(obj, ctypes.c_void_p).value in mapped or _outside(obj, shown):
            continue
        font = pdfium_c.FPDFTextObj_GetFont(obj)
        embedded = bool(font) and pdfium_c.FPDFFont_GetIsEmbedded(font)
        if embedded and (space := _inkless_space(obj, top)) is not None:
            spaces.append(space)
            continue
        names.add(_font_name(font) + ("" if embedded else " (not embedded)"))
    return sorted(names), spaces


def _inkless_space(obj, page_top: float) -> Char | None:
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
    return Char(" ", left.value, left.value, page_top - bottom.value, size.value * scale)


def _outside(obj, box: tuple[float, float, float, float]) -> bool:
    """Does a page object lie wholly outside ``box`` (x0, y0, x1, y1, PDF user space)?"""
    left, bottom, right, top = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    if not pdfium_c.FPDFPageObj_GetBounds(obj, left, bottom, right, top):
        return False
    return right.value < box[0] or left.value > box[2] or top.value < box[1] or bottom.value > box[3]


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


def _pdfium_edges(page: pdfium.PdfPage, frame: Frame, dx: float, top: float) -> list[dict] | None:
    """Horizontal and vertical ruling edges of the page's path objects that can be seen (see
    ``paints``), in pdfplumber's edge format; None when paths sit inside form XObjects (left
    to pdfplumber). Whether a path shows is asked first (four calls), so that the segments
    are read only for the paths that do: a legal-database export draws 60 unseen a page.
    Coordinates in the page's frame (``_pdfium_frame``: ``dx``, ``top``)."""
    width, height = frame.width, frame.height
    paths: list[tuple[object, tuple]] = []
    for k in range(pdfium_c.FPDFPage_CountObjects(page.raw)):
        obj = pdfium_c.FPDFPage_GetObject(page.raw, k)
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        if kind == pdfium_c.FPDF_PAGEOBJ_FORM and pdfium_c.FPDFFormObj_CountObjects(obj) > 0:
            return None
        if kind == pdfium_c.FPDF_PAGEOBJ_PATH:
            paths.append((obj, _pdfium_look(obj, dx, top)))
    background = next((f[3] for _, f in paths if f[2] and f[3] and _covers_page(f[4], width, height)), WHITE)
    edges: list[dict] = []
    for obj, (stroked, stroke, filled, fill, size, box) in paths:
        if _on_page(*box, width, height) and paints(stroked, stroke, filled, fill, size, background):
            for a, b in _pdfium_segments(obj, dx, top):
                _add_edge(edges, a, b)
    return edges


def _pdfium_look(obj, dx: float, top_y: float) -> tuple:
    """What a path object shows: (stroked, stroke RGB, filled, fill RGB, (width, height),
    top-left bbox)."""
    fill_mode, stroked = ctypes.c_int(), ctypes.c_int()
    pdfium_c.FPDFPath_GetDrawMode(obj, fill_mode, stroked)
    left, bottom, right, top = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    pdfium_c.FPDFPageObj_GetBounds(obj, left, bottom, right, top)
    box = (left.value - dx, top_y - top.value, right.value - dx, top_y - bottom.value)
    return (bool(stroked.value), _pdfium_rgb(obj, pdfium_c.FPDFPageObj_GetStrokeColor),
            fill_mode.value != pdfium_c.FPDF_FILLMODE_NONE, _pdfium_rgb(obj, pdfium_c.FPDFPageObj_GetFillColor),
            (right.value - left.value, top.value - bottom.value), box)


def _pdfium_segments(obj, dx: float, top: float) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """A path object's straight segments, closing ones included, in the page's frame (a user
    space point (x, y) shows at (x - dx, top - y))."""
    matrix = pdfium_c.FS_MATRIX()
    x, y = ctypes.c_float(), ctypes.c_float()
    pdfium_c.FPDFPageObj_GetMatrix(obj, matrix)
    segments: list[tuple[tuple[float, float], tuple[float, float]]] = []
    points: list[tuple[float, float]] = []
    for n in range(pdfium_c.FPDFPath_CountSegments(obj)):
        seg = pdfium_c.FPDFPath_GetPathSegment(obj, n)
        pdfium_c.FPDFPathSegment_GetPoint(seg, x, y)
        px = matrix.a * x.value + matrix.c * y.value + matrix.e - dx
        py = top - (matrix.b * x.value + matrix.d * y.value + matrix.f)
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
