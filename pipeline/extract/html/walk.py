"""The walk: a tree flattened into ``Seg`` text blocks in document order.

One segment per block of text (a <p>, an <li>, the loose text of a <div> …); a <br> directly in a block splits
it, a <br> inside <strong>/<a> joins lines. Each segment carries its link and bold character counts, its
images, the furniture hint of the nearest class/id (``vocab.HINT_SUBSTRINGS`` …) and, for a data table, its
``Table``.

Table rules: a ``<table>`` becomes a ``Table`` only if it looks like data: no nested table, at least 2 rows
and 2 columns, ≥ 3 non-empty cells, at most 20 % of cells longer than 100 characters and none longer than
400, less than half of its text in links. Anything else (a layout table, one cell holding the article, a link
grid) is walked like nested ``<div>``s. ``colspan``/``rowspan`` are filled by repeating the spanning cell's
value in every grid position it covers (spans are capped at 50). The header is the first row (whether it
uses ``<th>`` or not).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from urllib.parse import urljoin

from pipeline.extract.html.text import (
    SOFT_BREAK,
    WIDE_BREAK_RE,
    char_count,
    clean_text,
    join_soft_breaks,
    text_of,
)
from pipeline.extract.html.tree import HEAD_ONLY_TAGS
from pipeline.extract.html.vocab import (
    DECOR_IMG_RE,
    HINT_SUBSTRINGS,
    HINT_WORDS,
    STOCK_CHART_ALT_PREFIX,
    STOCK_CHART_LINK_CLASS,
    STOCK_CHART_RE,
    TAG_HINTS,
)
from pipeline.model import Image, Removed, Table

_BLOCK_TAG_NAMES = (
    "address article aside blockquote body center dd details dialog dir div dl dt fieldset figcaption figure "
    "footer form frameset h1 h2 h3 h4 h5 h6 header hgroup hr html legend li main menu nav ol p pre section "
    "summary table tbody td tfoot th thead tr ul caption"
)
BLOCK_TAGS = frozenset(_BLOCK_TAG_NAMES.split())
HEADING_LEVEL = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
BOLD_TAGS = frozenset({"strong", "b"})
SOFT_BREAK_TAGS = frozenset({"strong", "b", "em", "i", "u", "a", "h1", "h2", "h3", "h4", "h5", "h6"})

MAX_WALK_DEPTH = 180  # deeper subtrees are flattened into one segment (libxml2 caps depth anyway)
ICON_MAX_PX = 40  # an image this narrow or this low (width/height attribute, px) is an icon or spacer
# data-table shape (see the module docstring)
MAX_SPAN = 50  # rowspan/colspan beyond this are capped: a colspan=99999 would build a huge grid
TABLE_MIN_ROWS = 2
TABLE_MAX_ROWS = 5000  # longer "tables" are page layouts or data dumps, walked as text
TABLE_MIN_COLS = 2
TABLE_MIN_CELLS = 3  # non-empty cells
LONG_CELL_CHARS = 100  # a data cell is short: at most 20 % of the cells may be longer than this
LONG_CELL_MAX_SHARE = 0.2
PROSE_CELL_CHARS = 400  # a cell this long holds prose: the table is layout
TABLE_MAX_LINK_SHARE = 0.5  # more of the text in links than this: a link grid (navigation)

# one alternation of every class/id vocabulary entry: most elements are rejected by one search
# tags that ``Walker._leaf`` handles without walking into them (a table only when it holds data)
_LEAF_TAGS = HEAD_ONLY_TAGS | {"br", "img", "hr", "table"}
_HINTABLE_RE = re.compile(
    "|".join(k for k, _ in HINT_SUBSTRINGS) + "|" + "|".join(rf"(?<![a-z]){w}(?![a-z])" for w in HINT_WORDS)
)
_WORD_SPLIT_RE = re.compile(r"[^a-z0-9]+")
_NON_DIGIT_RE = re.compile(r"\D")


def hint_of(el, tag: str) -> str | None:
    """The furniture kind an element's tag or class/id names (``vocab.TAG_HINTS``, ``HINT_SUBSTRINGS``,
    ``HINT_WORDS``), or None."""
    if tag in TAG_HINTS:
        return TAG_HINTS[tag]
    cls, ident = el.get("class"), el.get("id")
    if not cls and not ident:
        return None
    words = f"{cls or ''} {ident or ''}".lower()
    if len(words) < 3 or not _HINTABLE_RE.search(words):
        return None
    for key, reason in HINT_SUBSTRINGS:
        if key in words:
            return reason
    for w in _WORD_SPLIT_RE.split(words):
        if w in HINT_WORDS:
            return HINT_WORDS[w]
    return None


def attr_words(el) -> str:
    """Lower-cased ``class`` and ``id`` of ``el``."""
    return f"{el.get('class', '')} {el.get('id', '')}".lower()


@dataclass(slots=True)
class Seg:
    text: str
    owner: object  # the block element owning the text
    tag: str
    n: int  # non-space characters
    n_link: int
    n_bold: int
    centered: bool
    images: list
    hint: str | None = None
    hint_el: object = None
    table: Table | None = None  # a data table's segment carries the table
    link_els: list | None = None  # <a href> elements in the segment
    in_container: bool = False

    @property
    def links(self) -> list[tuple[str, str]] | None:
        """(text, href) of the segment's links."""
        if not self.link_els:
            return None
        return [(clean_text(text_of(a)), a.get("href") or "") for a in self.link_els]

    @property
    def ld(self) -> float:
        """Link density: the share of the text inside links."""
        return self.n_link / self.n if self.n else 0.0

    @property
    def strong_only(self) -> bool:
        return self.n > 0 and self.n_bold >= self.n

    def hint_believed(self, valid: set[int]) -> bool:
        """The segment's hint comes from an element whose hint is believed (``container.valid_hints``)."""
        return self.hint_el is not None and id(self.hint_el) in valid


# What entering an element changed in the walker, for leaving it: (block, hinted, centred, link, bold, soft,
# saved soft depth). A plain tuple: the walker makes one per element, and a dataclass costs 20 % of the walk.
_Opened = tuple[bool, bool, bool, bool, bool, bool, int]


class Walker:
    """Flattens a tree into ``Seg`` text blocks in document order (see the module docstring)."""

    def __init__(self, base_url: str | None, removed: list[Removed]):
        self.base_url = base_url
        self.removed = removed
        self.segs: list[Seg] = []
        self.owners: list = []
        self.hints: list[tuple[str | None, object]] = [(None, None)]
        self.link_depth = 0
        self.bold_depth = 0
        self.soft_depth = 0
        self.center_depth = 0
        self._reset()

    def _reset(self) -> None:
        self.buf: list[str] = []
        self.n = self.n_link = self.n_bold = 0
        self.images: list[Image] = []
        self.links: list = []
        self.centered = False

    def walk_body(self, body) -> list[Seg]:
        """Walk every child of ``body``, with ``body`` owning its loose text; the segments in order."""
        self.owners.append(body)
        self.text(body.text)
        for child in body:
            self.walk(child, 1)
        self.flush()
        return self.segs

    # -- buffer
    def text(self, s: str | None) -> None:
        if not s or (not self.buf and s.isspace()):
            return
        if "\n" in s and not s.isspace():
            s = WIDE_BREAK_RE.sub("", s)
        self.buf.append(s)
        n = char_count(s)
        if n:
            self.n += n
            if self.link_depth:
                self.n_link += n
            if self.bold_depth:
                self.n_bold += n
            if self.center_depth:
                self.centered = True

    def flush(self) -> None:
        if self.n or self.images:
            text = "".join(self.buf) if self.buf else ""
            if SOFT_BREAK in text:
                text = join_soft_breaks(text)
            text = clean_text(text, cjk_breaks=False)
            if text or self.images:
                owner = self.owners[-1]
                hint, hint_el = self.hints[-1]
                self.segs.append(
                    Seg(
                        text=text,
                        owner=owner,
                        tag=owner.tag,
                        n=char_count(text),
                        n_link=self.n_link,
                        n_bold=self.n_bold,
                        centered=self.centered or self.center_depth > 0,
                        images=self.images,
                        hint=hint,
                        hint_el=hint_el,
                        link_els=self.links or None,
                    )
                )
        if self.buf or self.images or self.links:
            self._reset()

    # -- tree
    def walk(self, el, depth: int = 0) -> None:
        """Walk ``el`` and its subtree, then its tail (one Python frame per tree level)."""
        tag = el.tag
        plain = isinstance(tag, str) and tag not in _LEAF_TAGS and depth <= MAX_WALK_DEPTH  # most elements
        if plain or not self._leaf(el, depth):
            opened = self._enter(el)
            self.text(el.text)
            for child in el:
                self.walk(child, depth + 1)
            self._leave(opened)
        self.text(el.tail)

    def _leaf(self, el, depth: int) -> bool:
        """Handle an element that is not walked into (comments, head tags, <br>, <img>, <hr>, a data table, a
        subtree too deep); False for an element to walk into."""
        tag = el.tag
        if not isinstance(tag, str) or tag in HEAD_ONLY_TAGS:
            return True
        if tag == "br":
            if self.soft_depth:
                self.buf.append(SOFT_BREAK)
            else:
                self.flush()
            return True
        if tag == "img":
            self.image(el)
            return True
        if tag == "hr":
            self.flush()
            return True
        if depth > MAX_WALK_DEPTH:
            self.text(text_of(el))
            return True
        return tag == "table" and self.table(el)

    def _enter(self, el) -> _Opened:
        tag = el.tag
        block = tag in BLOCK_TAGS
        hint = hint_of(el, tag) if block else None
        style = el.get("style")
        align = el.get("align")
        centered = (
            tag == "center"
            or (style is not None and "center" in style)
            or (align is not None and align.lower() == "center")
        )
        link = tag == "a" and el.get("href") is not None
        bold = tag in BOLD_TAGS or tag in HEADING_LEVEL
        soft = tag in SOFT_BREAK_TAGS and not block
        if block:
            self.flush()
            self.owners.append(el)
        if hint:
            self.hints.append((hint, el))
        if centered:
            self.center_depth += 1
        if link:
            self.link_depth += 1
            self.links.append(el)
        if bold:
            self.bold_depth += 1
        if soft:
            self.soft_depth += 1
        saved_soft = self.soft_depth
        if block:
            self.soft_depth = 0  # a <br> directly in a block splits it, even inside an outer <strong>
        return block, bool(hint), centered, link, bold, soft, saved_soft

    def _leave(self, opened: _Opened) -> None:
        block, hinted, centered, link, bold, soft, saved_soft = opened
        if block:
            self.soft_depth = saved_soft
        if link:
            self.link_depth -= 1
        if bold:
            self.bold_depth -= 1
        if soft:
            self.soft_depth -= 1
        if centered:
            self.center_depth -= 1
        if block:
            self.flush()
            self.owners.pop()
        if hinted:
            self.hints.pop()

    def image(self, el) -> None:
        """Keep an article image (absolute src when the base URL is known); stock charts go to ``removed``,
        icons and decoration are skipped."""
        src = (el.get("src") or el.get("data-src") or el.get("data-original") or "").strip()
        if not src or src.startswith("data:"):
            return
        alt = clean_text(el.get("alt") or "") or None
        if _is_stock_chart(el, src, alt):
            self.removed.append(Removed(page=None, text=alt or src, reason="stock_chart"))
            return
        if _is_decoration(el, src):
            return
        if self.base_url:
            with contextlib.suppress(ValueError):  # malformed URLs stay as written
                src = urljoin(self.base_url, src)
        self.images.append(Image(src=src, alt=alt))

    def table(self, el) -> bool:
        """Turn a data table into a Table and one placeholder segment; False for a layout table."""
        grid = data_table_grid(el)
        if grid is None:
            return False
        caption_el = next(el.iter("caption"), None)
        caption = clean_text(text_of(caption_el)) if caption_el is not None else None
        self.flush()
        header, rows = grid[0], grid[1:]
        table = Table(table_id="", header=header, rows=rows, caption=caption or None, kind="html")
        text = " ".join(c for row in grid for c in row if c)
        n_link = sum(char_count(text_of(a)) for a in el.iter("a"))
        hint, hint_el = self.hints[-1]
        seg = Seg(
            text, el, "table", char_count(text), n_link, 0, False, [], hint, hint_el, table
        )
        self.segs.append(seg)
        return True


def _is_stock_chart(el, src: str, alt: str | None) -> bool:
    """A stock-quote chart (``vocab.STOCK_CHART_RE``): by its src or alt, by the class of its link, or a
    K-line image linked to a quote page."""
    parent = el.getparent()
    link = parent if parent is not None and parent.tag == "a" else None
    href = link.get("href", "") if link is not None else ""
    return bool(
        STOCK_CHART_RE.search(src)
        or STOCK_CHART_RE.search(alt or "")
        or (link is not None and STOCK_CHART_LINK_CLASS in (link.get("class") or ""))
        or (href and STOCK_CHART_RE.search(href) and alt and alt.startswith(STOCK_CHART_ALT_PREFIX))
    )


def _is_decoration(el, src: str) -> bool:
    """Icons, spacers and page arrows: tiny by their size attributes or decoration by file name."""
    try:
        w = int(_NON_DIGIT_RE.sub("", el.get("width") or "") or 0)
        h = int(_NON_DIGIT_RE.sub("", el.get("height") or "") or 0)
    except ValueError:
        w = h = 0
    return bool((w and w <= ICON_MAX_PX) or (h and h <= ICON_MAX_PX) or DECOR_IMG_RE.search(src))


# ------------------------------------------------------------------------------------------------ tables


def _cell_text(cell) -> str:
    parts = []
    for node in cell.iter():
        if node.tag == "br":
            parts.append("\n")
        if node is not cell and node.text and isinstance(node.tag, str):
            parts.append(node.text)
        elif node is cell and cell.text:
            parts.append(cell.text)
        if node is not cell and node.tail:
            parts.append(node.tail)
    return clean_text("".join(parts))


def _span(cell, name: str) -> int:
    try:
        return max(1, min(MAX_SPAN, int(re.sub(r"[^\d]", "", cell.get(name) or "1") or 1)))
    except ValueError:
        return 1


def data_table_grid(table) -> list[list[str]] | None:
    """Rows of a data table with spans filled in, or None for a layout/navigation table."""
    it = table.iter("table")
    next(it)
    if next(it, None) is not None:  # a nested table: layout
        return None
    rows = [tr for tr in table.iter("tr")]
    if len(rows) < TABLE_MIN_ROWS or len(rows) > TABLE_MAX_ROWS:
        return None
    raw = [[c for c in tr if isinstance(c.tag, str) and c.tag in ("td", "th")] for tr in rows]
    if max((len(r) for r in raw), default=0) < TABLE_MIN_COLS:
        return None
    texts = [_cell_text(c) for r in raw for c in r]
    if not _cells_look_like_data(table, texts):
        return None
    out = [row for row in _fill_spans(raw, texts) if any(row)]
    return out if len(out) >= TABLE_MIN_ROWS else None


def _cells_look_like_data(table, texts: list[str]) -> bool:
    """Enough short, non-empty cells, and not mostly links."""
    nonempty = [t for t in texts if t]
    if len(nonempty) < TABLE_MIN_CELLS:
        return False
    long_cells = sum(len(t) > LONG_CELL_CHARS for t in nonempty)
    if long_cells > LONG_CELL_MAX_SHARE * len(nonempty) or any(len(t) > PROSE_CELL_CHARS for t in nonempty):
        return False
    total = sum(char_count(t) for t in nonempty)
    links = sum(char_count(text_of(a)) for a in table.iter("a"))
    return not (total == 0 or links > TABLE_MAX_LINK_SHARE * total)


def _fill_spans(raw: list[list], texts: list[str]) -> list[list[str]]:
    """The grid of cell texts, a spanning cell's text repeated in every position it covers."""
    grid: dict[tuple[int, int], str] = {}
    n_cols = 0
    k = 0
    for r, cells in enumerate(raw):
        c = 0
        for cell in cells:
            while (r, c) in grid:
                c += 1
            text = texts[k]
            k += 1
            rs, cs = _span(cell, "rowspan"), _span(cell, "colspan")
            for dr in range(min(rs, len(raw) - r)):
                for dc in range(cs):
                    grid[(r + dr, c + dc)] = text
            c += cs
            n_cols = max(n_cols, c)
    return [[grid.get((r, c), "") for c in range(n_cols)] for r in range(len(raw))]
