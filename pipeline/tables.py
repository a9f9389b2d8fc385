"""Tables: page regions -> printed tables, merged across page breaks.

Steps, each a plain function:

1. ``borderless_tables``: key/value blocks without rulings (a gazette colophon): at least
   three consecutive text rows of exactly two segments whose left edges line up.
2. ``normalise_grid``: cell text cleaned (wrapped CJK lines joined without a space, Latin
   words keep theirs, full-width spaces folded, furniture text dropped) and merged cells
   filled: a grid position covered by a spanning cell gets that cell's value (a column
   span repeats the value to the right, a row span repeats it downwards).
3. ``read_header``: the header rows as printed, folded into one name per column, top down
   (``财政拨款“三公”经费/公务用车购置及运行维护费/小计/预算数``). A row below the first is
   header while it only refines the columns that still share a name (a spanning cell above
   it) or continues cells from the row above (a cell spanning down); a sub-header printed in
   the first data row (类/款/项 under 科目编码, beside the 合计 label) goes to the names.
4. ``merge_across_pages``: the table at the top of page n+1 continues the one at the bottom
   of page n when nothing but furniture lies between them and the column edges agree
   within ``TableSettings.column_match_pt``. A repeated header row is dropped; a first row whose
   key (first) cell is empty, under a row whose text filled its last line at the foot of
   the page, is the rest of that row cut by the page break and is joined into it; a
   merged-cell label cut by the page break the same way is joined before it is filled
   down. A page-n+1 table whose rows repeat page n's rows exactly is a repeat, not a
   continuation, and stays a separate table. A grid without any text is only ever the
   rest of a table.
5. ``to_table``: a table printed as side-by-side panels under the same header (经济分类 |
   科目名称 | 决算数, twice) becomes one panel's columns, the panels' rows one after the
   other, so that no two columns share a name. ``caption_for`` finds its printed title.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pipeline.clean import is_watermark, page_number_value
from pipeline.extract.pdf import SPANNED
from pipeline.layout import FALLBACK_SIZE_PT, GUTTER_SLACK_PT, column_of_box, split_at_gutter
from pipeline.model import BBox, Block, BlockKind, Layer, Line, Page, PageTable, Table
from pipeline.settings import DEFAULT_TABLES, Settings, TableSettings, resolve

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
    cut_cells: tuple[int, ...] = ()  # columns whose bottom cell's text may go on next page


@dataclass
class Merged:
    pieces: list[Piece] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    header_rows: list[list[str]] = field(default_factory=list)  # as printed, for repeat detection


def read_header(rows: list[list[str]], max_rows: int = DEFAULT_TABLES.max_header_rows,
                ) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """(header rows as printed, data rows, one name per column) of a ruled table.

    The first row is header. A further row is header when each of its non-empty cells
    either continues the cell above (a cell spanning down) or refines a group of columns
    that still share a name (a spanning cell above, split here into 预算数 | 决算数); a row
    holding a number is data. When the first data row refines such a group beside data of
    its own (类 | 款 | 项 under 科目编码, in the row of the 合计 label), those cells join the
    names and are blanked in the row. The header never takes every row, nor more than
    ``max_rows``.
    """
    if not rows:
        return [], [], []
    head = [rows[0]]
    names = combine_header(head)
    data = [list(r) for r in rows[1:]]
    while data and len(head) < min(max_rows, len(rows) - 1):
        row = data[0]
        continuing = {j for j, c in enumerate(row) if c and j < len(head[-1]) and c == head[-1][j]}
        refining = _refining_cells(row, names, split_only=False) - continuing
        free = [j for j, c in enumerate(row) if c and j not in refining | continuing]
        numbers = any(_NUMERIC.match(c) for c in row if c)
        if not free and not numbers and (refining or continuing):
            head.append(data.pop(0))
            names = combine_header(head)
            continue
        if lifted := _refining_cells(row, names, split_only=True) - continuing:
            for j in sorted(lifted):  # a sub-header printed beside the row's own data
                names[j] = f"{names[j]}/{row[j]}" if names[j] else row[j]
                row[j] = ""
        break
    return head, data, names


def _refining_cells(row: list[str], names: list[str], split_only: bool) -> set[int]:
    """Cells of ``row`` under a group of adjacent columns that share one name, where every
    cell of the group holds a word (no number): the group's next level, which splits it
    (预算数 | 决算数) or, unless ``split_only``, spans it whole (科目编码 under 支出功能分类)."""
    found: set[int] = set()
    j = 0
    while j < len(names):
        end = j + 1
        while end < len(names) and names[end] == names[j]:
            end += 1
        cells = [row[k] if k < len(row) else "" for k in range(j, end)]
        if (names[j] and end - j >= 2 and all(c and not _NUMERIC.match(c) for c in cells)
                and (len(set(cells)) > 1 or not split_only)):
            found.update(range(j, end))
        j = end
    return found


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


def borderless_tables(page: Page, gutter: tuple[float, float] | None = None,
                      settings: TableSettings = DEFAULT_TABLES) -> list[PageTable]:
    """Tables without rulings (colophons, key/value blocks, plain column layouts).

    At least ``borderless_min_rows`` consecutive text rows that each hold the same number
    (≥ 2) of gap-separated segments, with every column's left edge lined up within
    ``borderless_edge_pt``; on a page set in two columns (``gutter``), rows that are just
    the two columns' lines are no table.
    """
    min_rows, edge, row_gap, pad = (settings.borderless_min_rows, settings.borderless_edge_pt,
                                    settings.borderless_row_gap_em, settings.borderless_pad_pt)
    body = [part for ln in page.lines if ln.layer is Layer.BODY and ln.bbox and not _in_any(ln, page.tables)
            for part in split_at_gutter(ln, gutter)]
    rows: dict[float, list[Line]] = {}
    for ln in body:
        rows.setdefault(round(ln.bbox[3]), []).append(ln)
    found: list[PageTable] = []
    run: list[list[Line]] = []

    def aligned(segs: list[Line], prev: list[Line]) -> bool:
        gap = segs[0].bbox[1] - prev[0].bbox[3]
        return (len(segs) == len(prev) and gap < row_gap * (segs[0].font_size or FALLBACK_SIZE_PT)
                and all(abs(a.x0 - b.x0) < edge for a, b in zip(segs, prev, strict=True)))

    def close_run() -> None:
        columns_of_text = gutter is not None and all(
            len(r) == 2 and r[0].bbox[2] <= gutter[0] + GUTTER_SLACK_PT and r[1].bbox[0] >= gutter[1] - GUTTER_SLACK_PT
            for r in run)
        if len(run) >= min_rows and not columns_of_text:
            x0 = min(r[0].bbox[0] for r in run)
            x1 = max(r[-1].bbox[2] for r in run)
            bbox = _whole_points((x0 - pad, min(r[0].bbox[1] for r in run) - pad, x1 + pad,
                                  max(r[0].bbox[3] for r in run) + pad))
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


def _whole_points(box: BBox) -> BBox:
    """A region rounded outward to whole points. A borderless table's region is where its
    text ends, and the backends place a line's last glyph apart by fractions of a point
    (advance widths summed along a line round differently): the region means no more."""
    return (float(math.floor(box[0])), float(math.floor(box[1])), float(math.ceil(box[2])), float(math.ceil(box[3])))


def _in_any(ln: Line, tables: Sequence[PageTable]) -> bool:
    cx, cy = (ln.bbox[0] + ln.bbox[2]) / 2, (ln.bbox[1] + ln.bbox[3]) / 2
    return any(t.bbox[0] <= cx <= t.bbox[2] and t.bbox[1] <= cy <= t.bbox[3] for t in tables)


def _is_furniture_text(text: str) -> bool:
    return is_watermark(text) or page_number_value(text) is not None


def _body_between(page: Page, above: float | None, below: float | None, regions: list[BBox],
                  xs: tuple[float, float] | None = None) -> bool:
    """Is there body text on ``page`` between y=above and y=below, outside table regions
    (and, on a page set in columns, inside the x-range ``xs`` of one column)?"""
    for ln in page.lines:
        if ln.layer is not Layer.BODY or ln.bbox is None or _is_furniture_text(ln.text):
            continue
        if xs is not None and not (xs[0] - GUTTER_SLACK_PT <= ln.bbox[0] and ln.bbox[2] <= xs[1] + GUTTER_SLACK_PT):
            continue
        cy = (ln.bbox[1] + ln.bbox[3]) / 2
        if any(b[0] <= (ln.bbox[0] + ln.bbox[2]) / 2 <= b[2] and b[1] <= cy <= b[3] for b in regions):
            continue
        if (above is None or cy > above) and (below is None or cy < below):
            return True
    return False


def _same_columns(a: Piece, b: Piece, tol: float, shifted: bool = False) -> bool:
    """Do the two pieces have the same column edges (``shifted``: the same widths, the second
    moved to another column of the page)?"""
    if len(a.col_edges) != len(b.col_edges) or a.ruled != b.ruled:
        return False
    shift = b.col_edges[0] - a.col_edges[0] if shifted and a.col_edges else 0.0
    return all(abs(x + shift - y) <= tol for x, y in zip(a.col_edges, b.col_edges, strict=True))


def _norm_row(row: Sequence[str]) -> tuple[str, ...]:
    return tuple(re.sub(r"\s+", "", c) for c in row)


def merge_across_pages(pages: Sequence[Page], settings: Settings | None = None,
                       gutters: dict[int, tuple[float, float]] | None = None) -> tuple[list[Merged], list[tuple[int, BBox]]]:
    """All tables of a source, merged across page breaks (and, on pages set in two columns,
    from the foot of the left column to the head of the right one), and the page regions
    they cover. ``gutters``: the column gutter of each page set in two columns;
    ``settings.tables``: the tolerances."""
    tables = resolve(settings).tables
    gutters = gutters or {}
    regions: list[tuple[int, BBox]] = []
    merged: list[Merged] = []
    by_page = {p.page_no: p for p in pages}
    last: tuple[Merged, Piece] | None = None  # the table read last, and its last piece
    for page in pages:
        gutter = gutters.get(page.page_no)
        page_tables = list(page.tables) + borderless_tables(page, gutter, tables)
        page_tables.sort(key=lambda t: _reading_key(t.bbox, gutter))
        boxes = [t.bbox for t in page_tables]
        for k, t in enumerate(page_tables):
            piece = Piece(page.page_no, t.bbox, normalise_grid(t.rows), t.col_edges, t.ruled, len(regions),
                          t.cut_cells)
            target = None
            if last is not None and _flows_on(last[1], piece, k, page_tables, gutters) and \
                    _continues(last[1], piece, by_page, boxes, tables, last[0], gutters):
                target = last[0]
            blank = not any(c for row in piece.rows for c in row)
            if target is None and blank:
                continue  # blank rulings (a form to fill in, a frame): no table of their own
            regions.append((page.page_no, t.bbox))
            if target is None:
                head, body, names = read_header(piece.rows, tables.max_header_rows) if piece.ruled \
                    else ([], piece.rows, [])
                target = Merged(pieces=[piece], header=names, rows=body, header_rows=head)
                merged.append(target)
            else:
                _append(target, piece)
            last = (target, piece)
    return merged, regions


def _reading_key(box: BBox, gutter: tuple[float, float] | None) -> tuple:
    """Tables in reading order: top to bottom, or the left column's before the right's."""
    if gutter is None:
        return (0, box[1])
    return ({"L": 0, "R": 1, None: 0}[column_of_box(box, gutter)], box[1])


def _flows_on(prev: Piece, piece: Piece, k: int, page_tables: Sequence[PageTable],
              gutters: dict[int, tuple[float, float]]) -> bool:
    """Is ``piece`` where the text after ``prev`` goes on: the first table of the next page,
    or, on a page set in two columns, the first table of the right column after the last
    of the left one."""
    if piece.page_no == prev.page_no + 1:
        return k == 0
    gutter = gutters.get(piece.page_no)
    if piece.page_no != prev.page_no or gutter is None:
        return False
    if column_of_box(prev.bbox, gutter) != "L" or column_of_box(piece.bbox, gutter) != "R":
        return False
    return all(column_of_box(t.bbox, gutter) != "R" or t.bbox[1] >= piece.bbox[1] for t in page_tables)


def _column_xs(box: BBox, gutter: tuple[float, float] | None) -> tuple[float, float] | None:
    """The x-range of the column ``box`` sits in, on a page set in two columns."""
    side = column_of_box(box, gutter) if gutter else None
    if side == "L":
        return (float("-inf"), gutter[0])
    if side == "R":
        return (gutter[1], float("inf"))
    return None


def _another_header(first: list[str], target: Merged, numeric_share: float) -> bool:
    """Is ``first`` (top row of a new page's table) the header of a different table?

    It is when it differs from the target's header and holds words where the target's
    data rows hold numbers (in ``numeric_share`` of their cells).
    """
    if not target.header_rows or _norm_row(first) == _norm_row(target.header_rows[0]):
        return False
    for j, cell in enumerate(first):
        column = [r[j] for r in target.rows if j < len(r) and r[j].strip()]
        if (column and sum(bool(_NUMERIC.match(c)) for c in column) >= numeric_share * len(column)
                and cell.strip() and not _NUMERIC.match(cell)):
            return True
    return False


def _continues(prev: Piece, piece: Piece, by_page: dict[int, Page], boxes: list[BBox], settings: TableSettings,
               target: Merged | None = None, gutters: dict[int, tuple[float, float]] | None = None) -> bool:
    gutters = gutters or {}
    prev_xs, xs = _column_xs(prev.bbox, gutters.get(prev.page_no)), _column_xs(piece.bbox, gutters.get(piece.page_no))
    if not _same_columns(prev, piece, settings.column_match_pt, shifted=prev_xs != xs):
        return False
    if target is not None and piece.rows and _another_header(piece.rows[0], target, settings.numeric_column_share):
        return False
    prev_page, page = by_page[prev.page_no], by_page[piece.page_no]
    prev_boxes = [prev.bbox]
    if (_body_between(prev_page, prev.bbox[3], None, prev_boxes, prev_xs)
            or _body_between(page, None, piece.bbox[1], boxes, xs)):
        return False
    # an identical repeat of the previous page's table is a copy, not a continuation
    return [_norm_row(r) for r in piece.rows] != [_norm_row(r) for r in prev.rows]


def _append(target: Merged, piece: Piece) -> None:
    rows = [list(r) for r in piece.rows]
    k = len(target.header_rows)
    if k and [_norm_row(r) for r in rows[:k]] == [_norm_row(r) for r in target.header_rows]:
        rows = rows[k:]  # the header repeated on the new page
    if rows and target.rows and _rest_of_a_cut_row(target.rows[-1], rows[0], target.pieces[-1].cut_cells):
        cut = rows[0]  # the rest of a row cut by the page break
        last = target.rows[-1]
        target.rows[-1] = [clean_cell(a + "\n" + b) if b else a for a, b in zip(last, cut, strict=False)]
        rows = rows[1:]
    elif rows and target.rows:
        _join_cut_labels(target.rows, rows, target.pieces[-1].cut_cells)
    target.rows.extend(rows)
    target.pieces.append(piece)


def _rest_of_a_cut_row(last: list[str], first: list[str], cut_cells: Sequence[int]) -> bool:
    """Is the first row on a page the rest of the row at the foot of the page before? Its
    key (first) cell is empty while others hold text, and a cell of the row at the foot
    ended in a full line of words: its text was cut there. (A statutory table's row with
    an empty 科目编码 cell under a complete row is a row of its own.)"""
    if first[0].strip() or not any(c.strip() for c in first[1:]):
        return False
    if any(_NUMERIC.match(a.strip()) and _NUMERIC.match(b.strip()) for a, b in zip(last, first, strict=False)):
        return False  # both rows carry their own figures in one column: two rows
    return any(j < len(last) and last[j] and not _NUMERIC.match(last[j]) for j in cut_cells)


def _join_cut_labels(above: list[list[str]], below: list[list[str]], columns: Sequence[int]) -> None:
    """A merged-cell label cut by the page break (``居民服务、修理和`` / ``其他服务业(O)``): its
    text filled its last line at the foot of the page (``cut_cells``) and goes on in the
    first cell of the next page. The whole label replaces both parts wherever they were
    filled down: in the rows it covers at the foot of one page and the top of the next. A
    merged cell shows as the same text in adjacent rows on at least one side."""
    for j in columns:
        head, tail = above[-1][j] if j < len(above[-1]) else "", below[0][j] if j < len(below[0]) else ""
        if not head or not tail or head == tail or _NUMERIC.match(head) or _NUMERIC.match(tail):
            continue
        if _run(reversed(above), j, head) < 2 and _run(below, j, tail) < 2:
            continue  # no merged cell on either side: two rows' own cells
        label = clean_cell(head + "\n" + tail)
        for rows, part in ((reversed(above), head), (below, tail)):
            for row in rows:
                if row[j] != part:
                    break
                row[j] = label


def _run(rows: Iterable[Sequence[str]], j: int, value: str) -> int:
    """How many of ``rows``, from the first, hold ``value`` in column ``j``."""
    n = 0
    for row in rows:
        if j >= len(row) or row[j] != value:
            break
        n += 1
    return n


def panel_width(names: Sequence[str]) -> int:
    """Columns per panel of a table printed as side-by-side panels under one header (the
    names repeat: 经济分类/科目编码/类 | … | 决算数, twice); 0 when it is not one."""
    n = len(names)
    for width in range(1, n // 2 + 1):
        panel = names[:width]
        if n % width == 0 and all(panel) and len(set(panel)) == width and list(names) == panel * (n // width):
            return width
    return 0


def unfold_panels(rows: Sequence[Sequence[str]], width: int) -> list[list[str]]:
    """The rows of side-by-side panels, one panel after the other (left panel first, as it
    is read); a panel's blank rows (where it ran shorter than its neighbour) are padding."""
    out = []
    for start in range(0, max((len(r) for r in rows), default=0), width):
        out += [list(r[start:start + width]) for r in rows if any(r[start:start + width])]
    return out


def to_table(m: Merged, table_id: str) -> Table:
    first, last = m.pieces[0], m.pieces[-1]
    header, rows, edges = list(m.header), [list(r) for r in m.rows], first.col_edges
    if width := panel_width(header):
        header, rows, edges = header[:width], unfold_panels(rows, width), edges[: width + 1]
    return Table(
        table_id=table_id,
        header=header,
        rows=rows,
        page_start=first.page_no,
        page_end=last.page_no,
        bbox=first.bbox,
        kind="ruled" if first.ruled else "borderless",
        col_edges=edges,
        regions=[(piece.page_no, piece.bbox) for piece in m.pieces],
    )


def find_tables(pages: Sequence[Page], settings: Settings | None = None,
                gutters: dict[int, tuple[float, float]] | None = None) -> list[Table]:
    """Every printed table of a source, merged across page breaks and columns, in reading
    order; each knows the page regions it covers (``Table.regions``). Ids, captions and
    sections are given once the text around them is laid out."""
    merged, _ = merge_across_pages(pages, settings, gutters)
    return [to_table(m, "") for m in merged]


def caption_tables(blocks: Sequence[Block], settings: TableSettings = DEFAULT_TABLES) -> None:
    """Give each table of ``blocks`` its printed caption and 附件 label (``caption_for``)."""
    for at, block in enumerate(blocks):
        if block.table is not None:
            block.table.caption, block.table.label = caption_for(blocks, at, settings)


# lines between a table's title and its grid: its unit (单位：万元) and who compiled it
_UNIT_LINE = re.compile(r"^(?:(?:金额|计量)?单位\s*[:：]|\S{0,6}(?:编制|填报)单位)")
_UNIT_CLAUSE = re.compile(r"\s*(?:(?:金额|计量)?单位\s*[:：]\s*\S{1,8})$")  # 单位：万元 printed beside the title
_LABEL = re.compile(r"^附\s*(件|表|录)\s*[0-9一二三四五六七八九十]*[:：]?$")
_LABELLED_CAPTION = re.compile(r"^(附\s*(?:件|表)\s*[0-9一二三四五六七八九十]*)[:：\s]+(.+)$")
def caption_for(blocks: Sequence[Block], index: int,
                settings: TableSettings = DEFAULT_TABLES) -> tuple[str | None, str | None]:
    """(caption, 附件 label) of the table at ``blocks[index]``: the title line printed
    directly above its grid on the same page (the page's first line too), past a unit line
    (单位：万元) below or beside it, and a 附件 line above it; among the
    ``caption_lookback_blocks`` above it, none longer than ``caption_max_chars``."""
    caption = label = None
    page = blocks[index].page_start
    for b in reversed(blocks[max(0, index - settings.caption_lookback_blocks) : index]):
        text = b.text.strip()
        if b.kind is not BlockKind.PARAGRAPH or b.page_end != page or len(text) > settings.caption_max_chars:
            break
        if _UNIT_LINE.match(text):
            continue  # the unit line between a table's title and its grid
        if not b.set_apart and b.n_lines > 1:
            break  # a paragraph of text (a one-line title may fill a narrow column)
        if _LABEL.match(text):
            label = text
            break
        if caption is None and not re.search(r"[。；：:，,]$", text):
            caption = _UNIT_CLAUSE.sub("", text)
            continue
        break
    if caption and (m := _LABELLED_CAPTION.match(caption)):
        label, caption = m.group(1), m.group(2)
    return caption, label
