"""Tables: page regions -> printed tables, merged across page breaks.

Steps, each a plain function:

1. ``borderless_tables``: key/value blocks without rulings (a gazette colophon): at least
   three consecutive text rows of exactly two segments whose left edges line up.
2. ``normalise_grid``: cell text cleaned (wrapped CJK lines joined without a space, Latin
   words keep theirs, full-width spaces folded, furniture text dropped) and merged cells
   filled: a grid position covered by a spanning cell gets that cell's value (a column
   span repeats the value to the right, a row span repeats it downwards).
3. ``merge_across_pages``: the table at the top of page n+1 continues the one at the bottom
   of page n when nothing but furniture lies between them and the column edges agree
   within ``column_match_tolerance``. A repeated header row is dropped; a first row whose
   key (first) cell is empty is the rest of a row cut by the page break and is joined
   into the previous row. A page-n+1 table whose rows repeat page n's rows exactly is a
   repeat, not a continuation, and stays a separate table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.clean import is_watermark, page_number_value
from pipeline.extract.pdf import SPANNED
from pipeline.layout import two_column_gutter
from pipeline.model import BBox, Layer, Line, Page, PageTable, Table
from pipeline.settings import Settings

_CJK = r"\u3000-\u303f\u3400-\u9fff\uff00-\uffef"
_NUMERIC = re.compile(r"^[-+]?[\d,]+(\.\d+)?%?$")


def clean_cell(text: str | None) -> str:
    """Join a cell's wrapped lines: CJK without a space, Latin words with one."""
    if not text:
        return ""
    parts = [p.strip() for p in text.replace("\u3000", " ").splitlines()]
    parts = [p for p in parts if p and not is_watermark(p)]
    out = ""
    for part in parts:
        if out and re.search(r"[A-Za-z0-9]$", out) and re.match(r"^[A-Za-z0-9]", part):
            out += " "
        out += part
    out = re.sub(r"\s+", " ", out)
    return re.sub(rf"(?<=[{_CJK}]) (?=[{_CJK}])", "", out).strip()


def normalise_grid(rows: Sequence[Sequence[str]]) -> list[list[str]]:
    """Clean cells and fill spanned positions (SPANNED markers) from the left or above."""
    width = max((len(r) for r in rows), default=0)
    grid: list[list[str | None]] = []
    for row in rows:
        cells = [None if c == SPANNED else clean_cell(c) for c in row] + [""] * (width - len(row))
        grid.append(cells)
    for i, row in enumerate(grid):
        for j, cell in enumerate(row):
            if cell is not None:
                continue
            left = row[j - 1] if j > 0 else None
            above = grid[i - 1][j] if i > 0 else None
            # pdfplumber marks both spans alike; a cell with text to its left in the same
            # row is a column span, otherwise the cell above spans down
            row[j] = left if left else (above or "")
    return [[c or "" for c in row] for row in grid]


@dataclass
class Piece:
    """One page's part of a table, after normalisation."""

    page_no: int
    bbox: BBox
    rows: list[list[str]]
    col_edges: tuple[float, ...]
    ruled: bool
    region: int  # index in the page-region list handed to layout


@dataclass
class Merged:
    pieces: list[Piece] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    header_rows: list[list[str]] = field(default_factory=list)  # as printed, for repeat detection


MAX_HEADER_ROWS = 4


def split_header(rows: list[list[str]]) -> tuple[list[list[str]], list[list[str]]]:
    """(header rows, data rows). One header row, or several stacked ones (statutory
    tables: 项目 / 支出功能分类 / 科目编码) when the leading rows hold no numbers while a
    numeric column follows."""
    if not rows:
        return [], []
    k = 1
    while k < min(MAX_HEADER_ROWS, len(rows) - 1) and not any(_NUMERIC.match(c) for c in rows[k] if c):
        k += 1
    if k > 1 and not _has_numeric_column(rows[k:]):
        k = 1
    return rows[:k], rows[k:]


def _has_numeric_column(rows: list[list[str]]) -> bool:
    width = max((len(r) for r in rows), default=0)
    for j in range(width):
        column = [r[j] for r in rows if j < len(r) and r[j].strip()]
        if column and sum(bool(_NUMERIC.match(c)) for c in column) >= 0.8 * len(column):
            return True
    return False


def combine_header(header_rows: list[list[str]]) -> list[str]:
    """Stacked header rows -> one name per column: the distinct parts, top down, joined by /."""
    names = []
    for j in range(max((len(r) for r in header_rows), default=0)):
        parts: list[str] = []
        for row in header_rows:
            cell = row[j].strip() if j < len(row) else ""
            if cell and cell not in parts:
                parts.append(cell)
        names.append("/".join(parts))
    return names


def borderless_tables(page: Page, min_rows: int = 3) -> list[PageTable]:
    """Tables without rulings (colophons, key/value blocks, plain column layouts).

    At least ``min_rows`` consecutive text rows that each hold the same number (≥ 2) of
    gap-separated segments, with every column's left edge lined up within 3 pt; on a page
    set in two columns, rows that are just the two columns' lines are no table.
    """
    body = [ln for ln in page.lines if ln.layer is Layer.BODY and ln.bbox and not _in_any(ln, page.tables)]
    gutter = two_column_gutter(body)  # a page set in two columns: its rows of two are prose
    rows: dict[float, list[Line]] = {}
    for ln in body:
        rows.setdefault(round(ln.bbox[3]), []).append(ln)
    found: list[PageTable] = []
    run: list[list[Line]] = []

    def aligned(segs: list[Line], prev: list[Line]) -> bool:
        gap = segs[0].bbox[1] - prev[0].bbox[3]
        return (len(segs) == len(prev) and gap < 3 * (segs[0].font_size or 10)
                and all(abs(a.x0 - b.x0) < 3 for a, b in zip(segs, prev, strict=True)))

    def close_run() -> None:
        columns_of_text = gutter is not None and all(
            len(r) == 2 and r[0].bbox[2] <= gutter[0] + 1 and r[1].bbox[0] >= gutter[1] - 1 for r in run)
        if len(run) >= min_rows and not columns_of_text:
            x0 = min(r[0].bbox[0] for r in run)
            x1 = max(r[-1].bbox[2] for r in run)
            bbox = (x0 - 1, min(r[0].bbox[1] for r in run) - 1, x1 + 1, max(r[0].bbox[3] for r in run) + 1)
            edges = (x0, *(min(r[k].bbox[0] for r in run) for k in range(1, len(run[0]))), x1)
            rows_text = tuple(tuple(seg.text for seg in r) for r in run)
            found.append(PageTable(page.page_no, bbox, rows_text, tuple(round(e, 1) for e in edges), ruled=False))
        run.clear()

    for _, segs in sorted(rows.items()):
        segs.sort(key=lambda ln: ln.x0)
        if len(segs) >= 2 and (not run or aligned(segs, run[-1])):
            run.append(segs)
            continue
        close_run()
        if len(segs) >= 2:
            run.append(segs)
    close_run()
    return found


def _in_any(ln: Line, tables: Sequence[PageTable]) -> bool:
    cx, cy = (ln.bbox[0] + ln.bbox[2]) / 2, (ln.bbox[1] + ln.bbox[3]) / 2
    return any(t.bbox[0] <= cx <= t.bbox[2] and t.bbox[1] <= cy <= t.bbox[3] for t in tables)


def _is_furniture_text(text: str) -> bool:
    return is_watermark(text) or page_number_value(text) is not None


def _body_between(page: Page, above: float | None, below: float | None, regions: list[BBox]) -> bool:
    """Is there body text on ``page`` between y=above and y=below, outside table regions?"""
    for ln in page.lines:
        if ln.layer is not Layer.BODY or ln.bbox is None or _is_furniture_text(ln.text):
            continue
        cy = (ln.bbox[1] + ln.bbox[3]) / 2
        if any(b[0] <= (ln.bbox[0] + ln.bbox[2]) / 2 <= b[2] and b[1] <= cy <= b[3] for b in regions):
            continue
        if (above is None or cy > above) and (below is None or cy < below):
            return True
    return False


def _same_columns(a: Piece, b: Piece, tol: float) -> bool:
    if len(a.col_edges) != len(b.col_edges) or a.ruled != b.ruled:
        return False
    return all(abs(x - y) <= tol for x, y in zip(a.col_edges, b.col_edges, strict=True))


def _norm_row(row: Sequence[str]) -> tuple[str, ...]:
    return tuple(re.sub(r"\s+", "", c) for c in row)


def merge_across_pages(pages: Sequence[Page], settings: Settings) -> tuple[list[Merged], list[tuple[int, BBox]]]:
    """All tables of a source, merged across page breaks, and the page regions they cover."""
    regions: list[tuple[int, BBox]] = []
    merged: list[Merged] = []
    by_page = {p.page_no: p for p in pages}
    last_on_page: dict[int, tuple[Merged, Piece]] = {}
    for page in pages:
        page_tables = list(page.tables) + borderless_tables(page)
        page_tables.sort(key=lambda t: t.bbox[1])
        boxes = [t.bbox for t in page_tables]
        for k, t in enumerate(page_tables):
            regions.append((page.page_no, t.bbox))
            piece = Piece(page.page_no, t.bbox, normalise_grid(t.rows), t.col_edges, t.ruled, len(regions) - 1)
            prev = last_on_page.get(page.page_no - 1)
            target = None
            if k == 0 and prev is not None and _continues(prev[1], piece, by_page, boxes, settings, prev[0]):
                target = prev[0]
            if target is None:
                head, body = split_header(piece.rows) if piece.ruled else ([], piece.rows)
                target = Merged(pieces=[piece], header=combine_header(head), rows=body, header_rows=head)
                merged.append(target)
            else:
                _append(target, piece)
            last_on_page[page.page_no] = (target, piece)
    return merged, regions


def _another_header(first: list[str], target: Merged) -> bool:
    """Is ``first`` (top row of a new page's table) the header of a different table?

    It is when it differs from the target's header and holds words where the target's
    data rows hold numbers.
    """
    if not target.header_rows or _norm_row(first) == _norm_row(target.header_rows[0]):
        return False
    for j, cell in enumerate(first):
        column = [r[j] for r in target.rows if j < len(r) and r[j].strip()]
        if column and sum(bool(_NUMERIC.match(c)) for c in column) >= 0.8 * len(column) and cell.strip() and not _NUMERIC.match(cell):
            return True
    return False


def _continues(prev: Piece, piece: Piece, by_page: dict[int, Page], boxes: list[BBox], settings: Settings,
               target: Merged | None = None) -> bool:
    if not _same_columns(prev, piece, settings.column_match_tolerance):
        return False
    if target is not None and piece.rows and _another_header(piece.rows[0], target):
        return False
    prev_page, page = by_page[prev.page_no], by_page[piece.page_no]
    prev_boxes = [prev.bbox]
    if _body_between(prev_page, prev.bbox[3], None, prev_boxes) or _body_between(page, None, piece.bbox[1], boxes):
        return False
    # an identical repeat of the previous page's table is a copy, not a continuation
    return [_norm_row(r) for r in piece.rows] != [_norm_row(r) for r in prev.rows]


def _append(target: Merged, piece: Piece) -> None:
    rows = piece.rows
    k = len(target.header_rows)
    if k and [_norm_row(r) for r in rows[:k]] == [_norm_row(r) for r in target.header_rows]:
        rows = rows[k:]  # the header repeated on the new page
    if rows and target.rows and not rows[0][0].strip() and any(c.strip() for c in rows[0][1:]):
        cut = rows[0]  # the rest of a row cut by the page break
        last = target.rows[-1]
        target.rows[-1] = [clean_cell(a + "\n" + b) if b else a for a, b in zip(last, cut, strict=False)]
        rows = rows[1:]
    target.rows.extend(rows)
    target.pieces.append(piece)


def to_table(m: Merged, table_id: str) -> Table:
    first, last = m.pieces[0], m.pieces[-1]
    return Table(
        table_id=table_id,
        header=list(m.header),
        rows=[list(r) for r in m.rows],
        page_start=first.page_no,
        page_end=last.page_no,
        bbox=first.bbox,
        kind="ruled" if first.ruled else "borderless",
        col_edges=first.col_edges,
    )
