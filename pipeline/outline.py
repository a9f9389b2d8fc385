"""Headings and the section tree.

The heading grammar is one ordered table (``GRAMMAR``): level name, rank (smaller is
higher), and the pattern of the heading's number. A block is a heading when its start
matches a pattern *and* its shape fits:

* 编/分编/章/节/部分 headings stand alone: short, no sentence punctuation inside, set apart
  (their own line). ``第一章规定的事项…`` inside a paragraph is body text.
* 条 articles and 一、/（一）/1./（1） items often run in: ``（一）指导思想。深入贯彻…``.
  The run-in title (up to the first 。 or ：, when short) is the heading's title; the rest
  of the paragraph is the section's text.

Levels: part (编, 部分), supplementary (附则: a code's closing part, without a number),
subpart (分编), chapter (章), section (节), article (条), item (一、),
subitem (（一）), point (1.), subpoint (（1）), heading (an input-marked heading without a
number, e.g. an HTML <h2> or a <strong>-only paragraph), front (text before the first
heading), back_matter (after the document's 公开方式 line).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipeline.chinese import (
    GRAMMAR,
    NUM,
    SENTENCE_PUNCT,
    SUPPLEMENTARY,
    Heading,
    clean_title,
    next_item_marker,
    parse_heading,
)
from pipeline.model import Block, BlockKind, Section

_SP = r"[\s\u3000]*"
def heading_of(block: Block) -> Heading | None:
    if block.kind is BlockKind.HEADING:
        found = parse_heading(block.text, True)
        if found:
            return found
        text = block.text.strip()
        # <h1>..<h6> rank above all numbered levels, in their own order; <strong> (7) last
        return Heading("heading", (block.heading_level or 7) - 7, None, text, clean_title(text), "")
    if block.kind is BlockKind.PARAGRAPH:
        return parse_heading(block.text, block.set_apart, block.n_lines == 1)
    return None


def build_sections(
    blocks: Sequence[Block],
    back_matter: Sequence[Block] = (),
) -> list[Section]:
    """Split blocks into a section tree.

    Section 0 (level ``front``) holds text before the first heading; every section's
    ``parent_seq`` points at the nearest higher-ranked one; ``back_matter`` blocks form a
    last top-level section. A TABLE block leaves ``[表 N]`` in the text (its table's number
    in the document) and its table learns the section it sits in.
    """
    sections = [Section(0, "front", None, "", "", None, "", "", None, None, 0)]
    stack: list[tuple[int, Section]] = []  # (rank, section)
    texts: dict[int, list[str]] = {0: []}

    def add_text(sec: Section, block: Block) -> None:
        if block.kind is BlockKind.TABLE and block.table is not None:
            block.table.section_seq = sec.seq
            texts[sec.seq].append(f"[表 {block.table.table_id.removeprefix('t')}]")
        else:
            texts[sec.seq].append(block.text)
        _extend(sec, block)

    blocks = _join_wrapped_titles(list(blocks))
    skip = False
    i = -1
    while i + 1 < len(blocks):
        i += 1
        block = blocks[i]
        if skip:
            skip = False
            continue
        h = heading_of(block)
        open_items = [(sec.level, sec.number) for _, sec in stack] + ([(h.level, h.number)] if h else [])
        split = _split_at_next_item(block, open_items)
        if split:  # …规则。（八）负责… : the next item ran into this paragraph
            block, blocks[i + 1:i + 1] = split[0], [split[1]]
            h = heading_of(block)
        if h is None:
            add_text(stack[-1][1] if stack else sections[0], block)
            continue
        if not h.title and h.level in ("part", "chapter", "section") and i + 1 < len(blocks):
            title = _title_line(blocks[i + 1])
            if title:  # 第一章 on one line, its title on the next
                h = Heading(h.level, h.rank, h.number, f"{h.heading} {title}", clean_title(title), "")
                skip = True
        _close_to_parent(stack, h)
        parent = stack[-1][1] if stack else None
        key = _path_key(h.heading)
        sec = Section(
            len(sections), h.level, h.number, h.heading, h.title, parent.seq if parent else None,
            f"{parent.path}/{key}" if parent else key, "", block.page_start, block.page_end,
            (parent.depth + 1) if parent else 1,
        )
        sections.append(sec)
        texts[sec.seq] = [h.rest] if h.rest else []
        stack.append((h.rank, sec))
    if back_matter:
        sec = Section(len(sections), "back_matter", None, "", "", None, "back_matter", "", None, None, 1)
        sections.append(sec)
        texts[sec.seq] = []
        for block in back_matter:
            add_text(sec, block)
    for sec in sections:
        sec.text = "\n".join(t for t in texts.get(sec.seq, []) if t)
    return sections


_ITEM_LEVELS = frozenset({"item", "subitem", "point", "subpoint"})


def _close_to_parent(stack: list[tuple[int, Section]], h: Heading) -> None:
    """Close the open sections that ``h`` does not belong to.

    Headings of a higher or equal rank close, with two exceptions that keep a quoted
    structure inside the document's own (a regulation's 第一条…第三条 quoted under 一、):
    an article opened while an item is open and no article is, is quoted there and closes
    nothing; and an item whose number follows an open item of its level is that item's
    sibling, however deep something else sits between them (二、 beside 一、, not under 第三条).
    """
    levels = {sec.level for _, sec in stack}
    if h.level == "article" and "article" not in levels and levels & _ITEM_LEVELS:
        return
    for k in range(len(stack) - 1, -1, -1):
        sec = stack[k][1]
        if sec.level == h.level and sec.number is not None and h.number == sec.number + 1:
            del stack[k:]
            return
    while stack and stack[-1][0] >= h.rank:
        stack.pop()


# a run-in heading too long for its line carries its last word to the next line
# (…行政单位离退休 / （项）。主要用于：…): a heading line at least this long may have wrapped,
WRAPPED_TITLE_MIN_CHARS = 20
# and the carried part is at most this many characters before its 。 or ：
WRAPPED_TITLE_TAIL_CHARS = 8
_TITLE_TAIL = re.compile(rf"^[^。：:，,；;\s]{{1,{WRAPPED_TITLE_TAIL_CHARS}}}[。：:]")


def _join_wrapped_titles(blocks: list[Block]) -> list[Block]:
    """Join a run-in heading that stood alone on a line to the next paragraph when that
    paragraph opens with the rest of the heading's title."""
    out: list[Block] = []
    for block in blocks:
        prev = out[-1] if out else None
        if prev is not None and _title_continues(prev, block):
            out[-1] = Block(BlockKind.PARAGRAPH, prev.text + block.text, prev.page_start, block.page_end,
                            n_lines=prev.n_lines + block.n_lines)
            continue
        out.append(block)
    return out


def _title_continues(head: Block, block: Block) -> bool:
    if head.kind is not BlockKind.PARAGRAPH or block.kind is not BlockKind.PARAGRAPH:
        return False
    text = head.text.strip()
    if len(text) < WRAPPED_TITLE_MIN_CHARS or re.search(r"[。：:；;！？]$", text):
        return False
    h = heading_of(head)
    if h is None or h.rest or not any(r.level == h.level and r.run_in for r in GRAMMAR):
        return False
    return bool(_TITLE_TAIL.match(block.text.strip())) and heading_of(block) is None


def _split_at_next_item(block: Block, open_items: Sequence[tuple[str, int | None]]) -> tuple[Block, Block] | None:
    """Split a paragraph where the item following an open one begins mid-line.

    A lost line break in the text layer can glue ``（八）负责…`` to the end of ``（七）…。``;
    only the exact next number of an open item, after 。 or ；, counts, so a reference
    such as ``见第（九）项`` never splits a paragraph.
    """
    if block.kind is not BlockKind.PARAGRAPH:
        return None
    best: int | None = None
    for level, number in open_items:
        marker = next_item_marker(level, number + 1) if number is not None else None
        if marker is None:
            continue
        m = re.search(rf"(?<=[。；;])[\s\u3000]*(?={marker})", block.text)
        if m and (best is None or m.end() < best):
            best = m.end()
    if best is None:
        return None
    head, tail = block.text[:best].rstrip(), block.text[best:]
    return (Block(block.kind, head, block.page_start, block.page_end, n_lines=block.n_lines),
            Block(block.kind, tail, block.page_start, block.page_end, n_lines=1))


def _title_line(block: Block) -> str | None:
    """A short set-apart line that is no heading itself: the title under a bare 第X章."""
    text = block.text.strip()
    ok = block.kind is BlockKind.PARAGRAPH and block.set_apart and 0 < len(text) <= 40
    # 附　则 under a bare 第X章 is that chapter's title, not the code's closing part
    return text if ok and not SENTENCE_PUNCT.search(text) and (heading_of(block) is None or SUPPLEMENTARY.match(text)) else None


def _path_key(printed: str) -> str:
    if SUPPLEMENTARY.match(printed):
        return "附则"
    m = re.match(rf"^(第{_SP}{NUM}{_SP}[编章节条]|第{_SP}{NUM}{_SP}(?:部分|分{_SP}编)|[一二三四五六七八九十百]+、|[（(][^）)]+[）)]|\d+[.．、]?)", printed)
    return re.sub(r"[\s\u3000/]", "", m.group(1)).rstrip("、.．") if m else printed.replace("/", "／")[:20]


def _extend(sec: Section, block: Block) -> None:
    if block.page_start is None:
        return
    if sec.page_start is None:
        sec.page_start = block.page_start
    sec.page_end = max(sec.page_end or 0, block.page_end or block.page_start)
