"""Body lines -> paragraph blocks, re-joining lines that CJK typesetting wrapped.

Within a page a paragraph ends where a line stops short of the right margin, the next
line is indented (Chinese paragraphs open with a two-character indent), the font size
changes, the vertical gap widens, or a line is centred. Across a page break a paragraph
continues when the last body line of page n runs to the right margin and the first body
line of page n+1 is neither indented nor a heading: furniture between them (watermark,
page number, running header) has already been tagged by ``clean``.
"""

from __future__ import annotations

import bisect
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pipeline.chinese import heading_rule, heading_start
from pipeline.model import BBox, Block, BlockKind, Layer, Line, Page, Table
from pipeline.settings import DEFAULT_LAYOUT, TextLayoutSettings

# a page's last line that ends a sentence ends its paragraph; a colon does not (主要原因：
# goes on with the reasons)
_SENTENCE_END = re.compile(r"[。！？；!?;…”』」）)]$")
_COLON_END = re.compile(r"[：:]$")
_LATIN_END = re.compile(r"[A-Za-z0-9]")
_LATIN_START = re.compile(r"^[A-Za-z0-9]")
# a 目录 entry's line ends in dot leaders and its page reference (……12, .... (75)): the
# entry is complete there, so the line below starts the next entry (or a group line such as
# 部门文件), however full the leaders make this line and however close the next one stands
_LEADER_REF = re.compile(r"[.·…．_]{3,}\s*(?:\d{1,4}|[（(]\s*\d{1,4}\s*[）)])$")
# pt: a line without a font size is taken as set in this size (common body text), and a
# page without measurable lines gets this size and FALLBACK_PITCH_PT
FALLBACK_SIZE_PT = 10.0
FALLBACK_PITCH_PT = 12.0
# pt: a box within this of the gutter's side is inside its column (rounding of the boxes)
GUTTER_SLACK_PT = 1


@dataclass(frozen=True)
class Metrics:
    left: float  # body text's left margin
    right: float  # body text's right margin
    size: float  # body font size
    pitch: float  # usual distance between consecutive baselines

    @property
    def centre(self) -> float:
        return (self.left + self.right) / 2


def measure(lines: Sequence[Line], page_width: float | None = None,
            layout: TextLayoutSettings = DEFAULT_LAYOUT) -> Metrics:
    """Margins, body font size and line pitch, from the lines themselves.

    With too few lines to tell the right margin (``mirror_below_lines``), it mirrors the
    left one on the page.
    """
    placed = [ln for ln in lines if ln.bbox is not None and len(ln.text) >= layout.measure_min_chars]
    if not placed:
        return Metrics(0.0, page_width or 1.0, FALLBACK_SIZE_PT, FALLBACK_PITCH_PT)
    size = statistics.median(ln.font_size or FALLBACK_SIZE_PT for ln in placed)
    lefts = Counter(round(ln.x0) for ln in placed if abs((ln.font_size or size) - size) < layout.same_size_pt)
    least = max(lefts.values()) * layout.left_margin_share if lefts else 0
    left = float(min(x for x, n in lefts.items() if n >= least)) if lefts else 0.0
    rights = sorted(ln.bbox[2] for ln in placed)
    right = rights[int(len(rights) * layout.right_margin_share)]
    steps = [
        b.bbox[3] - a.bbox[3]
        for a, b in zip(placed, placed[1:], strict=False)
        if a.page_no == b.page_no and 0 < b.bbox[3] - a.bbox[3] < layout.pitch_max_em * size
    ]
    pitch = statistics.median(steps) if steps else size * layout.default_pitch_em
    if len(placed) < layout.mirror_below_lines and page_width:
        right = max(right, page_width - left)
    return Metrics(left, right, size, pitch)


def _rows(lines: Sequence[Line], layout: TextLayoutSettings) -> list[Line]:
    """Merge segments of one text row (baselines within ``row_baseline_pt``) back into one
    line, joined by a space."""
    out: list[Line] = []
    for ln in lines:
        prev = out[-1] if out else None
        if (prev and prev.page_no == ln.page_no and prev.bbox and ln.bbox
                and abs(prev.bbox[3] - ln.bbox[3]) < layout.row_baseline_pt):
            bbox = (prev.bbox[0], min(prev.bbox[1], ln.bbox[1]), ln.bbox[2], max(prev.bbox[3], ln.bbox[3]))
            out[-1] = Line(prev.text + " " + ln.text, ln.page_no, bbox, max(prev.font_size or 0, ln.font_size or 0))
        else:
            out.append(ln)
    return out


def _join_lines(texts: list[str]) -> str:
    """Wrapped lines -> one paragraph: CJK joins without a space, Latin words keep one."""
    parts = [texts[0]]
    for prev, text in zip(texts, texts[1:], strict=False):
        if _LATIN_END.match(prev[-1:]) and _LATIN_START.match(text):
            parts.append(" ")
        parts.append(text)
    return "".join(parts)


class _Shape:
    """Line-shape tests against the margins of the line's own page layout (and column), with
    the tolerances of ``layout`` (in font sizes of the body text, or line pitches)."""

    def __init__(self, metrics: dict[tuple[int, str | None], Metrics], widths: dict[int, int],
                 columns: dict[int, str] | None = None, layout: TextLayoutSettings = DEFAULT_LAYOUT):
        self.metrics = metrics  # by (page width, column): portrait and landscape pages differ
        self.widths = widths  # page_no -> page width
        self.columns = columns or {}  # id(line) -> "L" / "R" on pages set in two columns
        self.layout = layout

    def _m(self, ln: Line) -> Metrics:
        return self.metrics[(self.widths[ln.page_no], self.columns.get(id(ln)))]

    def full(self, ln: Line) -> bool:
        m = self._m(ln)
        return ln.bbox is not None and ln.bbox[2] >= m.right - self.layout.full_em * m.size

    def indented(self, ln: Line) -> bool:
        m = self._m(ln)
        return ln.x0 >= m.left + self.layout.indent_em * m.size

    def centred(self, ln: Line, loose: bool = False) -> bool:
        """Set centred: the middle of the line at the middle of the text, with insets wider than
        a paragraph's two-character first-line indent (``loose``: any inset, for a display-size
        line after another, a wrapped title, which a narrow column leaves little room around)."""
        if ln.bbox is None:
            return False
        m = self._m(ln)
        mid = (ln.bbox[0] + ln.bbox[2]) / 2
        least = 0.0 if loose else self.layout.centred_inset_em * m.size
        inset = ln.x0 > m.left + least and ln.bbox[2] < m.right - least and not (loose and self.full(ln))
        return inset and abs(mid - m.centre) < self.layout.centred_offset_em * m.size

    def display(self, ln: Line) -> bool:
        """Set in a larger size than the body text: a title or heading."""
        return (ln.font_size or 0) > self._m(ln).size + self.layout.display_pt

    def continues(self, prev: Line, ln: Line) -> bool:
        """Does ``ln`` continue the paragraph that ``prev`` is part of?"""
        layout = self.layout
        if (self.display(prev) and self.display(ln) and prev.font_size == ln.font_size
                and (self.centred(ln, loose=True) or self.full(ln)) and not heading_start(ln.text)):
            # a display heading wrapped onto a second, centred line (or a full one: a narrow column)
            return (prev.page_no == ln.page_no
                    and ln.bbox[3] - prev.bbox[3] < layout.display_wrap_em * (ln.font_size or FALLBACK_SIZE_PT))
        if heading_start(prev.text) and self.centred(ln) and not self.full(ln) and prev.page_no == ln.page_no:
            # a heading whose last word wrapped onto a centred line (第三部分 …情况 / 说明)
            return ln.bbox[3] - prev.bbox[3] < layout.paragraph_gap_pitch * self._m(ln).pitch \
                and prev.font_size == ln.font_size
        if self.indented(ln) or self.centred(ln) or self.centred(prev) or _LEADER_REF.search(prev.text):
            return False
        if abs((prev.font_size or 0) - (ln.font_size or 0)) > layout.same_size_pt or heading_start(ln.text):
            return False
        if prev.page_no != ln.page_no:
            if not self.full(prev) and (heading_start(prev.text) or heading_rule(ln.text) is not None):
                return False  # a heading on a page's last line, or a numbered item opening the next
            # the page broke mid-paragraph: prev ran to the margin or stopped mid-sentence
            return self.full(prev) or not _SENTENCE_END.search(prev.text)
        gap = ln.bbox[3] - prev.bbox[3] if ln.bbox and prev.bbox else 0
        if not self.full(prev):
            # a short line ends its paragraph, unless it ends in a colon and the text goes on
            # below it at the margin (not indented: no new paragraph)
            # (a numbered list after the colon starts its own blocks: 其中： / 1、…)
            return bool(_COLON_END.search(prev.text)) and not heading_start(prev.text) and \
                heading_rule(ln.text) is None and gap < layout.colon_gap_pitch * self._m(ln).pitch
        return gap < layout.paragraph_gap_pitch * self._m(ln).pitch


def build_blocks(
    pages: Sequence[Page],
    tables: Sequence[Table] = (),
    gutters: dict[int, tuple[float, float]] | None = None,
    layout: TextLayoutSettings = DEFAULT_LAYOUT,
) -> list[Block]:
    """Paragraph blocks from the body lines of ``pages``, and a TABLE block for each of
    ``tables`` where it starts, in reading order; the lines inside a table's regions are
    its cells, not text. ``gutters``: the column gutter of each page set in two columns
    (``page_gutters``; worked out here when not given). ``layout``: the tolerances that
    tell where a paragraph ends.
    """
    exclude = [region for table in tables for region in table.regions]
    table_boxes: dict[int, list[tuple[BBox, Table]]] = {}
    for table in tables:
        if table.regions:
            page_no, box = table.regions[0]
            table_boxes.setdefault(page_no, []).append((box, table))
    items: list[tuple[int, tuple, object]] = []  # (page, reading-order key, Line | Table)
    columns: dict[int, str] = {}  # id(line) -> its column, on pages set in two columns
    if gutters is None:
        gutters = page_gutters(pages, {p.page_no: [ln for ln in p.lines if ln.layer is Layer.BODY
                                                   and not _inside(ln, p.page_no, exclude)] for p in pages}, layout)
    for page in pages:
        gutter = gutters.get(page.page_no)
        # split first: a column's line may share its row with a table cell across the gutter
        body = [part for ln in page.lines if ln.layer is Layer.BODY for part in split_at_gutter(ln, gutter)
                if not _inside(part, page.page_no, exclude)]
        items += _page_items(page.page_no, body, table_boxes.get(page.page_no, []), columns, gutter, layout)
    items.sort(key=lambda it: (it[0], it[1]))
    lines = [it[2] for it in items if isinstance(it[2], Line)]
    widths = {p.page_no: round(p.width) for p in pages}
    groups: dict[tuple[int, str | None], list[Line]] = {}
    for ln in lines:
        groups.setdefault((widths[ln.page_no], columns.get(id(ln))), []).append(ln)
    metrics = {key: measure(group, key[0] if key[1] is None else None, layout) for key, group in groups.items()}
    for w in set(widths.values()):
        metrics.setdefault((w, None), measure([], w, layout))
    shape = _Shape(metrics, widths, columns, layout)

    blocks: list[Block] = []
    para: list[Line] = []

    def flush() -> None:
        if para:
            blocks.append(_paragraph(para, shape))
            para.clear()

    for page_no, _, item in items:
        if not isinstance(item, Line):
            flush()
            blocks.append(Block(BlockKind.TABLE, "", page_no, item.page_end or page_no, table=item))
            continue
        if para and not shape.continues(para[-1], item):
            flush()
        para.append(item)
    flush()
    return blocks


def _page_items(page_no: int, body: list[Line], tables: list[tuple[BBox, Table]], columns: dict[int, str],
                gutter: tuple[float, float] | None, layout: TextLayoutSettings) -> list[tuple[int, tuple, object]]:
    """One page's lines and table anchors with their reading-order keys: top to bottom, or
    column by column on a page set in two columns (whose lines are noted in ``columns``; a
    table inside a column is read in its column, a table across both divides the page)."""
    if gutter is None:
        return ([(page_no, (ln.top, order), ln) for order, ln in enumerate(_rows(body, layout))]
                + [(page_no, (box[1], -1), index) for box, index in tables])
    across = [box[1] for box, _ in tables if column_of_box(box, gutter) is None]
    out: list[tuple[int, tuple, object]] = []
    for key, ln, col in _column_order(body, gutter, across, layout):
        out.append((page_no, key, ln))
        if col:
            columns[id(ln)] = col
    rank = {"L": 0, "R": 1, None: 2}
    dividers = _dividers(body, gutter, across)
    return out + [(page_no, (_band(box[1], dividers), rank[column_of_box(box, gutter)], box[1], -1), index)
                  for box, index in tables]


def column_of_box(box: BBox, gutter: tuple[float, float]) -> str | None:
    """"L" or "R" for a box inside one column of a two-column page, None across both."""
    if box[2] <= gutter[0] + GUTTER_SLACK_PT:
        return "L"
    if box[0] >= gutter[1] - GUTTER_SLACK_PT:
        return "R"
    return None


def _paragraph(lines: list[Line], shape: _Shape) -> Block:
    text = _join_lines([ln.text for ln in lines])
    # a heading stands on a line of its own that stops short of the right margin, or is
    # set off by centring or a display size
    # (a paragraph's last line sits at the left margin; a centred last line ends a heading)
    set_apart = (
        (len(lines) == 1 and not shape.full(lines[0]))
        or all(shape.centred(ln) or shape.display(ln) for ln in lines)
        or (len(lines) > 1 and shape.centred(lines[-1]))
    )
    return Block(
        BlockKind.PARAGRAPH,
        re.sub(r"[ \t\u00a0]{2,}", " ", text).strip(),
        lines[0].page_no,
        lines[-1].page_no,
        set_apart=set_apart,
        n_lines=len(lines),
    )


# --- pages set in two columns --------------------------------------------------------------


def two_column_gutter(lines: Sequence[Line], layout: TextLayoutSettings = DEFAULT_LAYOUT) -> tuple[float, float] | None:
    """The gutter (x0, x1) of a page set in two columns, else None.

    A gutter is an empty x-range (``gutter_min_em`` wide at least) in the middle third of
    the text that only a few lines cross (``crossing_share``: a title across both columns),
    with a column of full-length lines on each side (``gutter_side_lines``,
    ``gutter_full_share``). A page of one column has its lines run across the middle; a
    short key/value list has no full lines; a table's lines were taken out before.
    """
    placed = [ln for ln in lines if ln.bbox is not None and ln.text.strip()]
    if len(placed) < layout.gutter_min_lines:
        return None
    left, right = min(ln.bbox[0] for ln in placed), max(ln.bbox[2] for ln in placed)
    size = statistics.median(ln.font_size or FALLBACK_SIZE_PT for ln in placed)
    lo, hi = left + (right - left) / 3, right - (right - left) / 3  # the middle third
    allowed = _crossings_allowed(len(placed), layout)
    # sweep the line extents left to right: runs of x covered by at most ``allowed`` lines
    events = sorted([(ln.bbox[0], 1) for ln in placed] + [(ln.bbox[2], -1) for ln in placed])
    best: tuple[float, float] | None = None
    depth, start = 0, None
    for x, step in events:
        if depth <= allowed and start is not None:
            a, b = max(start, lo), min(x, hi)
            if b - a > (best[1] - best[0] if best else layout.gutter_min_em * size):
                best = (a, b)
        depth += step
        start = x if depth <= allowed else None
    if best is None:
        return None
    lefts = [ln for ln in placed if ln.bbox[2] <= best[0] + GUTTER_SLACK_PT]
    rights = [ln for ln in placed if ln.bbox[0] >= best[1] - GUTTER_SLACK_PT]
    sides = layout.gutter_side_lines
    if len(lefts) < sides or len(rights) < sides or len(lefts) + len(rights) < layout.gutter_columns_share * len(placed):
        return None
    full = layout.gutter_full_share
    long_left = statistics.median(ln.bbox[2] - ln.bbox[0] for ln in lefts) >= full * (best[0] - left)
    long_right = statistics.median(ln.bbox[2] - ln.bbox[0] for ln in rights) >= full * (right - best[1])
    return best if long_left and long_right else None


def _crossings_allowed(n_lines: int, layout: TextLayoutSettings) -> int:
    """Lines of a page of ``n_lines`` that may cross its gutter: a title over both columns,
    a wide table's note."""
    return max(layout.min_crossing_lines, int(n_lines * layout.crossing_share))


def split_at_gaps(line: Line) -> list[Line]:
    """``line`` cut at every wide blank stretch inside it (``Line.gaps``)."""
    return _cut(line, list(line.gaps))


def split_at_gutter(line: Line, gutter: tuple[float, float] | None) -> list[Line]:
    """``line`` cut where one of its blank stretches holds the middle of the gutter: on a
    page set in two columns, a left and a right column line that share a baseline."""
    if gutter is None or not line.gaps:
        return [line]
    middle = (gutter[0] + gutter[1]) / 2
    return _cut(line, [g for g in line.gaps if g[0] - GUTTER_SLACK_PT <= middle <= g[1] + GUTTER_SLACK_PT])


def _cut(line: Line, gaps: list[tuple[float, float, int]]) -> list[Line]:
    if not gaps or line.bbox is None:
        return [line]
    out, start, x_start = [], 0, line.bbox[0]
    for x0, x1, at in sorted(gaps, key=lambda g: g[2]):
        text = line.text[start:at].strip()
        if text:
            out.append(replace(line, text=text, bbox=(x_start, line.bbox[1], x0, line.bbox[3]),
                               gaps=tuple(g for g in line.gaps if start < g[2] < at)))
        start, x_start = at, x1
    rest = line.text[start:].strip()
    if rest:
        out.append(replace(line, text=rest, bbox=(x_start, line.bbox[1], line.bbox[2], line.bbox[3]),
                           gaps=tuple(g for g in line.gaps if g[2] > start)))
    return out


def page_gutters(pages: Sequence[Page], bodies: dict[int, list[Line]] | None = None,
                 layout: TextLayoutSettings = DEFAULT_LAYOUT) -> dict[int, tuple[float, float]]:
    """The column gutter of every page set in two columns, decided for the document.

    A page where the layout is clear (enough lines on both sides, ``two_column_gutter``)
    gives its gutter; a sparse page of the same document (a 目录 of short lines, a page where
    a chapter begins) takes the gutter of the nearest clear page of its width when its lines
    leave that gutter free, as the typesetter's grid does. A page whose lines run across the
    middle (a title page, a one-column part of the document) stays one column.
    """
    if bodies is None:  # the body lines outside the ruled tables found at extraction
        bodies = {p.page_no: [ln for ln in p.lines if ln.layer is Layer.BODY
                              and not _inside(ln, p.page_no, [(p.page_no, t.bbox) for t in p.tables])] for p in pages}
    clear: dict[int, tuple[float, float]] = {}
    for page in pages:
        pieces = [part for ln in bodies[page.page_no] for part in split_at_gaps(ln)]
        gutter = two_column_gutter(pieces, layout)
        if gutter is not None:
            clear[page.page_no] = gutter
    if not clear:
        return {}
    widths = {p.page_no: round(p.width) for p in pages}
    out = dict(clear)
    for page in pages:
        if page.page_no in clear:
            continue
        near = sorted((n for n in clear if widths[n] == widths[page.page_no]), key=lambda n: abs(n - page.page_no))
        if near and _leaves_free(bodies[page.page_no], clear[near[0]], [t.bbox for t in page.tables], layout):
            out[page.page_no] = clear[near[0]]
    return out


def _leaves_free(lines: Sequence[Line], gutter: tuple[float, float], tables: Sequence[BBox] = (),
                layout: TextLayoutSettings = DEFAULT_LAYOUT) -> bool:
    """Do the page's lines keep out of ``gutter`` (or only cross it through a blank stretch,
    or no more of them than may cross a clear page's), with something (text or a table) in
    the right-hand column?"""
    placed = [part for ln in lines for part in split_at_gutter(ln, gutter) if part.bbox is not None]
    crossing = [ln for ln in placed
                if ln.bbox[0] < gutter[0] - GUTTER_SLACK_PT and ln.bbox[2] > gutter[1] + GUTTER_SLACK_PT]
    right = [ln for ln in placed if ln.bbox[0] >= gutter[1] - GUTTER_SLACK_PT] + \
        [b for b in tables if column_of_box(b, gutter) == "R"]
    return len(crossing) <= _crossings_allowed(len(placed), layout) and bool(right)


def _column_of(ln: Line, gutter: tuple[float, float]) -> str | None:
    return column_of_box(ln.bbox, gutter)  # None: across both columns


def _dividers(lines: Sequence[Line], gutter: tuple[float, float], table_tops: Sequence[float]) -> list[float]:
    """Tops of the full-width things (lines across the gutter, tables) that cut a two-column
    page into bands, sorted."""
    return sorted([ln.top for ln in lines if ln.bbox is not None and _column_of(ln, gutter) is None] + list(table_tops))


def _band(top: float, dividers: Sequence[float]) -> int:
    """How many full-width things start above ``top``."""
    return bisect.bisect_left(dividers, top)


def _column_order(lines: Sequence[Line], gutter: tuple[float, float], table_tops: Sequence[float],
                  layout: TextLayoutSettings) -> list[tuple[tuple, Line, str | None]]:
    """Reading order on a two-column page: within each band between full-width lines (or
    tables), the left column top to bottom, then the right one; each column's segments of
    one row are merged as on a one-column page."""
    out = []
    dividers = _dividers(lines, gutter, table_tops)
    by_col: dict[str | None, list[Line]] = {}
    for ln in sorted((ln for ln in lines if ln.bbox is not None), key=lambda ln: ln.top):
        by_col.setdefault(_column_of(ln, gutter), []).append(ln)
    for col, rank in (("L", 0), ("R", 1), (None, 2)):
        for order, ln in enumerate(_rows(by_col.get(col, []), layout)):
            out.append(((_band(ln.top, dividers), rank, ln.top, order), ln, col))
    return out


def _inside(ln: Line, page_no: int, regions: Sequence[tuple[int, BBox]]) -> bool:
    if ln.bbox is None:
        return False
    cx, cy = (ln.bbox[0] + ln.bbox[2]) / 2, (ln.bbox[1] + ln.bbox[3]) / 2
    return any(p == page_no and b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for p, b in regions)
