"""Line classification: which segments are article text, and what the others are.

Each line inside the container is checked for metadata first (date line, 来源 line, byline, tags line,
original-article link; ``read_printed`` fills ``meta.Printed`` from them), then for boilerplate (back links,
share widgets, disclaimers, copyright, link-dense lines). Lines just around the container (from 3 lines above
its <h1> to 6 lines after it) are read for metadata too. What stays becomes blocks: headings (<h1>-<h6>, and
``<strong>``/``<b>``-only paragraphs of at most 80 characters as level 7), paragraphs and tables; a short line
right after an image is its caption. Every dropped line goes to ``removed`` with its reason.

Table captions: the ``<caption>`` text, else the preceding block when it is short (≤ 50 characters) and names
a table (contains 表) or ends with a colon (that block stays in the body too). A TABLE block's ``text`` is the
caption (or empty) and carries the table.
"""

from __future__ import annotations

import re

from pipeline.extract.html.container import LINK_LIST_DENSITY
from pipeline.extract.html.meta import Printed, author_of, parse_datetime, source_of, unlabelled_source
from pipeline.extract.html.text import SHORT_LINE_CHARS, WORDCHAR_RE, norm_key, record
from pipeline.extract.html.vocab import (
    BACK_LINK_RE,
    BYLINE_LINE_RE,
    CAPTION_CLASS_WORDS,
    CAPTION_START_RE,
    COPYRIGHT_RE,
    DATE_LABEL_RE,
    DISCLAIMER_RE,
    EDITOR_PRIORITY,
    ORIGINAL_LINK_RE,
    SHARE_RE,
    SOURCE_LINE_RE,
    SOURCE_WORD,
    TABLE_CAPTION_ENDINGS,
    TABLE_CAPTION_WORD,
    TAGS_LINE_RE,
    TZ_ONLY_RE,
    URL_TEXT_RE,
)
from pipeline.extract.html.walk import HEADING_LEVEL, Seg, attr_words
from pipeline.model import Block, BlockKind, Image, Removed, Table

PRINTED_LINE_MAX_CHARS = 200  # a longer line is never read as metadata (a tags line included)
DISCLAIMER_MAX_CHARS = 600  # a 免责声明 paragraph longer than this is article text that starts so
NAVIGATION_LINK_DENSITY = 0.6  # a line with more of its text in links is navigation (data tables aside)
BACK_LINK_DENSITY = 0.5  # a long 返回… line is a back link only when it is mostly link
LINK_LINE_MAX_CHARS = 300  # only lines up to this long are checked for an original-article link
ORIGINAL_LINK_DENSITY = 0.9  # the original-article link is (nearly) the whole line
CAPTION_MAX_CHARS = 60  # an image caption is at most this long
BOLD_HEADING_MAX_CHARS = 80  # a longer bold-only paragraph is emphasis, not a heading
BOLD_HEADING_LEVEL = 7  # below <h6>: a heading made of <strong>/<b>
TABLE_CAPTION_MAX_CHARS = 50  # the preceding block is a table's caption only when this short
SUMMARY_MAX_POSITION = 2  # a summary repeated by the body is one of the first 2 blocks
SUMMARY_MIN_CHARS = 20  # ... and at least this long (a short line may well recur by chance)
TITLE_COPY_MAX_POSITION = 3  # the title's copy in the body is one of the first 3 blocks
TITLE_LENGTH_SLACK = 2  # a line outside the article is the title when its length is within 2 of it
# metadata window around the container, in segments
H1_LOOKBACK_SEGS = 40  # the article's <h1> is at most this far above the container
WINDOW_BEFORE_SEGS = 3  # date lines may come just above the <h1> (or the container)
WINDOW_AFTER_SEGS = 7  # ... and bylines, 来源 and tags lines just after the container (exclusive end)

_TAG_SPLIT_RE = re.compile(r"\s+[-|｜/]\s+|[,，;；、]\s*|\s{2,}")
_SENTENCE_END_RE = re.compile(r"[。！？]$")
# ``……（记者 张三）`` at the end of a summary: compared without it
_TRAILING_NOTE_RE = re.compile(r"[（(][^（）()]{1,20}[）)]\s*$")


# ------------------------------------------------------------------------------------------------ one line


def read_printed(seg: Seg, printed: Printed) -> str | None:
    """Reason to drop a short metadata line (and fill ``printed`` from it), or None for ordinary text."""
    text = seg.text
    if seg.n == 0 or len(text) > PRINTED_LINE_MAX_CHARS:
        return None
    m = TAGS_LINE_RE.match(text)
    if m:
        printed.tags.extend(t for t in _TAG_SPLIT_RE.split(m["v"]) if t.strip())
        return "tags_line"
    short = len(text) <= SHORT_LINE_CHARS
    is_source_line = bool(SOURCE_LINE_RE.match(text)) and short
    if TZ_ONLY_RE.match(text):
        return "dateline"
    has_date = short and _read_date(text, printed)
    src = source_of(text) if short and (is_source_line or has_date or SOURCE_WORD in text) else None
    if src is None and has_date:
        src = unlabelled_source(text)
    if src and printed.source is None:
        printed.source = src
    au = author_of(text) if short else None
    is_byline = bool(BYLINE_LINE_RE.match(text)) and short
    if au and (is_byline or has_date or is_source_line):
        printed.authors.setdefault(au[0], au[1])
    if is_source_line:
        return "source_line"
    if has_date:
        return "dateline"
    if is_byline and au:
        return "editor_line" if au[0] == EDITOR_PRIORITY else "byline"
    return None


def _read_date(text: str, printed: Printed) -> bool:
    """A date line: a date with a time, or with a date label (发布时间 …); its date goes to ``printed``."""
    dt, has_time, has_tz = parse_datetime(text)
    if dt is not None and (has_time or DATE_LABEL_RE.search(text)):
        printed.dates.append((dt, has_time, has_tz))
        return True
    return False


def boilerplate_reason(seg: Seg, hint_ok: bool) -> str | None:
    """The furniture kind of a line (believed hint, back link, share widget, disclaimer, footer, navigation,
    symbols only), or None."""
    text = seg.text
    short = len(text) <= SHORT_LINE_CHARS
    if seg.hint and hint_ok:
        return seg.hint
    if BACK_LINK_RE.match(text) and (seg.ld > BACK_LINK_DENSITY or short):
        return "back_link"
    if short and SHARE_RE.match(text):
        return "share_widget"
    if DISCLAIMER_RE.match(text) and (len(text) < DISCLAIMER_MAX_CHARS):
        return "disclaimer"
    if short and COPYRIGHT_RE.search(text):
        return "footer"
    if seg.ld > NAVIGATION_LINK_DENSITY and seg.table is None:
        return "navigation"
    if not WORDCHAR_RE.search(text):
        return "symbols_only"
    return None


def _original_link(seg: Seg, printed: Printed) -> bool:
    """A link to the original article (a bare URL as the whole line, or 原文链接…); its href goes to
    ``printed``."""
    links = seg.links if seg.link_els and seg.n <= LINK_LINE_MAX_CHARS else None
    if not links:
        return False
    text, href = links[0]
    if (
        len(links) == 1
        and seg.ld > ORIGINAL_LINK_DENSITY
        and (URL_TEXT_RE.match(text) or ORIGINAL_LINK_RE.search(seg.text))
    ):
        printed.original_url = printed.original_url or href
        return True
    if ORIGINAL_LINK_RE.match(seg.text):
        printed.original_url = printed.original_url or links[-1][1]
        return True
    return False


def line_reason(seg: Seg, printed: Printed, hint_ok: bool) -> str | None:
    """Why a text line is not article text (metadata line, original-article link, boilerplate), filling
    ``printed`` from metadata lines; None for article text."""
    reason = read_printed(seg, printed)
    if reason is not None:
        return reason
    if _original_link(seg, printed):
        return "original_link"
    return boilerplate_reason(seg, hint_ok)


def is_caption(seg: Seg) -> bool:
    """A short line after an image that reads as its caption (图片来源：…, a caption class, or centred text
    that is not a bold heading and does not end a sentence)."""
    if seg.n == 0 or seg.n > CAPTION_MAX_CHARS or seg.table is not None:
        return False
    if CAPTION_START_RE.match(seg.text):
        return True
    words = attr_words(seg.owner)
    if any(w in words for w in CAPTION_CLASS_WORDS):
        return True
    return seg.centered and not seg.strong_only and not _SENTENCE_END_RE.search(seg.text)


def record_seg(removed: list[Removed], seg: Seg, reason: str) -> None:
    """Record a dropped line; a line of several back links (返回… ｜ 返回首页) is recorded link by link."""
    if reason == "back_link" and seg.link_els and len(seg.link_els) > 1:
        for text, _ in seg.links:
            record(removed, text, reason)
    else:
        record(removed, seg.text, reason, clean=True)


# ------------------------------------------------------------------------------------------------ the lines


def classify(
    segs: list[Seg], valid: set[int], removed: list[Removed], printed: Printed
) -> tuple[list[Block], list[Image]]:
    """Blocks and images of the in-container segments, in order; the rest of the container's lines go to
    ``removed`` with a reason."""
    blocks: list[Block] = []
    images: list[Image] = []
    last_image: Image | None = None
    for seg in segs:
        taken, last_image = _take_images(seg, images, last_image)
        if taken or seg.n == 0:
            continue
        reason = line_reason(seg, printed, seg.hint_believed(valid))
        if reason is not None:
            record_seg(removed, seg, reason)
        else:
            blocks.append(_block_of(seg))
    return blocks, images


def _take_images(seg: Seg, images: list[Image], last_image: Image | None) -> tuple[bool, Image | None]:
    """Collect the segment's images; ``(the segment is a caption and taken, the image still without one)``."""
    if seg.images:
        images.extend(seg.images)
        last = seg.images[-1]
        if seg.n and seg.n <= CAPTION_MAX_CHARS and not seg.strong_only:
            last.caption = seg.text  # an image with its own short caption (e.g. <span class=img_descr>)
            return True, None
        return False, last
    if last_image is not None and is_caption(seg):
        last_image.caption = seg.text
        return True, None
    return False, None


def _block_of(seg: Seg) -> Block:
    if seg.table is not None:
        return Block(kind=BlockKind.TABLE, text="", table=seg.table)
    level = HEADING_LEVEL.get(seg.tag)
    if level is None and seg.strong_only and seg.n <= BOLD_HEADING_MAX_CHARS:
        level = BOLD_HEADING_LEVEL
    if level is not None:
        return Block(kind=BlockKind.HEADING, text=seg.text, heading_level=level)
    return Block(kind=BlockKind.PARAGRAPH, text=seg.text)


def metadata_window(segs: list[Seg], start: int, end: int) -> range:
    """Indices of the segments read for printed metadata: from a little above the article's <h1> (date lines
    may come first; the container's first line when no <h1> is near) to a few lines after the container."""
    h1_idx = next(
        (k for k in range(start - 1, max(-1, start - H1_LOOKBACK_SEGS), -1) if segs[k].tag == "h1"), None
    )
    window_start = max(0, (h1_idx if h1_idx is not None else start) - WINDOW_BEFORE_SEGS)
    return range(window_start, min(len(segs), end + WINDOW_AFTER_SEGS))


def _outside_reason(k: int, seg: Seg, hint_ok: bool, title_key: str, window: range, printed: Printed) -> str:
    """Why a line outside the container is dropped: a copy of the title, a metadata line in the window, its
    believed hint, navigation, or just outside the article."""
    if title_key and abs(seg.n - len(title_key)) <= TITLE_LENGTH_SLACK and norm_key(seg.text) == title_key:
        return "title"
    if k in window:
        return line_reason(seg, printed, hint_ok) or "outside_article"
    if seg.hint and hint_ok:
        return seg.hint
    return "navigation" if seg.ld > LINK_LIST_DENSITY else "outside_article"


def classify_page(
    segs: list[Seg],
    span: tuple[int, int],
    valid: set[int],
    title: str | None,
    removed: list[Removed],
    printed: Printed,
) -> tuple[list[Block], list[Image]]:
    """Blocks and images of a page whose container holds ``segs[start : end + 1]`` (``span``); every other
    line is recorded in document order: the lines before the article, the article, the lines after it."""
    start, end = span
    title_key = norm_key(title) if title else ""
    window = metadata_window(segs, start, end)

    def outside(k: int) -> None:
        seg = segs[k]
        record_seg(
            removed, seg, _outside_reason(k, seg, seg.hint_believed(valid), title_key, window, printed)
        )

    for k in range(start):
        outside(k)
    blocks, images = classify(segs[start : end + 1], valid, removed, printed)
    for k in range(start, len(segs)):
        if not segs[k].in_container:
            outside(k)
    return blocks, images


# ------------------------------------------------------------------------------------------------ blocks


def finish_tables(blocks: list[Block]) -> list[Table]:
    """Number the kept tables t1, t2, … in reading order; fill missing captions from the preceding short
    block (a TABLE block's text is its caption)."""
    tables: list[Table] = []
    for bi, b in enumerate(blocks):
        if b.table is None:
            continue
        table = b.table
        table.table_id = f"t{len(tables) + 1}"
        if not table.caption and bi > 0 and blocks[bi - 1].kind is not BlockKind.TABLE:
            prev = blocks[bi - 1].text
            if len(prev) <= TABLE_CAPTION_MAX_CHARS and (
                TABLE_CAPTION_WORD in prev or prev.endswith(TABLE_CAPTION_ENDINGS)
            ):
                table.caption = prev
        blocks[bi] = Block(kind=BlockKind.TABLE, text=table.caption or "", table=table)
        tables.append(table)
    return tables


def drop_summary_duplicate(blocks: list[Block], removed: list[Removed]) -> list[Block]:
    """A lead/summary paragraph at the top that the body repeats (irregularity 3 of finews) is dropped."""
    for k in range(min(SUMMARY_MAX_POSITION, len(blocks) - 1)):
        b = blocks[k]
        if b.kind is not BlockKind.PARAGRAPH:
            continue
        core = norm_key(_TRAILING_NOTE_RE.sub("", b.text))
        if len(core) < SUMMARY_MIN_CHARS:
            continue
        rest = "".join(norm_key(x.text) for x in blocks[k + 1 :])
        if core in rest:
            removed.append(Removed(page=None, text=b.text, reason="summary_duplicate"))
            return blocks[:k] + blocks[k + 1 :]
    return blocks


def title_block(
    blocks: list[Block], title: str | None, removed: list[Removed]
) -> tuple[list[Block], str | None]:
    """Drop a copy of the title at the top of the body; when the body's copy differs only by whitespace
    (``2007　年末`` in <title> vs ``2007年末`` in the text), the body's version becomes the title."""
    if not title:
        return blocks, title
    key = norm_key(title)
    for k, b in enumerate(blocks[:TITLE_COPY_MAX_POSITION]):
        if b.kind is BlockKind.TABLE:
            continue
        if norm_key(b.text) == key:
            removed.append(Removed(page=None, text=b.text, reason="title"))
            if b.text != title and len(b.text) < len(title):
                title = b.text
            return blocks[:k] + blocks[k + 1 :], title
    return blocks, title
