"""A gazette issue -> its documents.

The issue's own 目录 lists each document's title, 文号 and printed page. Each document
opens with a header block: the issuer line (…文件), the 文号 on a line of its own, the
title, the addressees; it closes with the signer, the date and 公开方式. Blocks before the
first document (cover, issue 目录) are issue front matter; blocks after a document's
公开方式 line are its back matter (e.g. the gazette colophon after the last document).
A PDF without any 文号 header is one document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rapidfuzz import fuzz

from pipeline.chinese import DOC_NUMBER, iso_date, join_han, parse_heading
from pipeline.model import Block, BlockKind, Document, Draft, IssueParts, Removed, TocEntry

_ISSUE = re.compile(r"(\d{4})\s*年\s*第\s*(\d{1,3})\s*期")
_PUBLIC = re.compile(r"^公开方式\s*[：:]\s*(.+)$")
_PAGE_REF = re.compile(r"(?:[（(]\s*(\d{1,4})\s*[）)]|[.…·．_]{3,}\s*(\d{1,4}))\s*$")
_ISSUER_LINE = re.compile(r"^(.{2,60}?)\s*文\s*件$")


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def doc_number_alone(text: str) -> str | None:
    """The 文号 when a block holds nothing else (a document header line)."""
    t = _compact(text)
    m = DOC_NUMBER.fullmatch(t)
    return m.group(0) if m else None


def issue_id(texts: Sequence[str]) -> str | None:
    for t in texts:
        m = _ISSUE.search(t)
        if m:
            return f"{m.group(1)}-{int(m.group(2))}"
    return None


def _page_ref(text: str) -> re.Match | None:
    """A trailing page reference, ``(75)`` or ``……75``, on a line that is no 章/节 entry."""
    m = _PAGE_REF.search(text)
    return m if m and parse_heading(text[: m.start()].strip(), True) is None else None


# an issue 目录 entry (its group line, its title, its 文号) may wrap over this many lines
# before its page reference: a narrow column of a two-column 目录 wraps a title into six
MAX_ENTRY_LINES = 12


def issue_toc_end(blocks: Sequence[Block], start: int, stop: int) -> int:
    """Index after the issue 目录 that starts at ``blocks[start]``: after the last entry with a
    page reference, where a sentence of body text or a long run of lines without one begins."""
    end = start + 1
    for i in range(start + 1, stop):
        text = blocks[i].text.strip()
        if _page_ref(text):
            end = i + 1
        elif i - end >= MAX_ENTRY_LINES or "。" in text:
            break
    return end


def parse_issue_toc(blocks: Sequence[Block], start: int, stop: int) -> list[TocEntry]:
    """Issue-level 目录: entries ending in a page reference ``(75)``, most holding a 文号.

    An entry may wrap over several lines; short category lines (…文件, 部门文件) that
    group the entries are not part of any title.
    """
    entries = []
    pending: list[str] = []
    for block in blocks[start + 1 : stop]:
        text = block.text.strip()
        m = _page_ref(text)
        if not m:
            pending.append(text)
            continue
        while pending and _category_line(pending[0]):
            pending.pop(0)
        whole = "".join(pending) + text
        pending = []
        m = _PAGE_REF.search(whole)
        body = whole[: m.start()].strip()
        page = int(m.group(1) or m.group(2))
        num = DOC_NUMBER.search(_compact(body))
        title = body
        if num:
            title = re.sub(r"[（(]\s*" + r"\s*".join(map(re.escape, num.group(0))) + r"\s*[）)]", "", body).strip()
        entries.append(TocEntry("document", None, _collapse_cjk_spaces(title), page, None, num.group(0) if num else None))
    return entries


# a line of an issue 目录 this short is a group line (市政府文件, 人事任免): an entry's title
# names its subject and issuer and is longer
CATEGORY_MAX_CHARS = 8


def _category_line(text: str) -> bool:
    """A group line of an issue 目录: short, ``…文件``, or bracketed (【人事任免】, 〔部门规章〕)."""
    bracketed = re.fullmatch(r"[【〔［\[]\s*[^【】〔〕［］\[\]]{1,20}\s*[】〕］\]]", text) is not None
    return len(text) <= CATEGORY_MAX_CHARS or bracketed or bool(_ISSUER_LINE.match(text)) and "关于" not in text


def _title_after_issuers(text: str, issuer: str | None) -> str:
    """The title with layout spaces removed, except between joint issuers that open it
    (``广州市林业和园林局 广州市财政局关于…``, as the header line names them)."""
    title = _collapse_cjk_spaces(text)
    if issuer and " " in issuer and title.startswith(_compact(issuer)):
        return issuer + title[len(_compact(issuer)):]
    return title


def _collapse_cjk_spaces(text: str) -> str:
    return join_han(text)


# --- a legal database's labelled metadata block ------------------------------------------------
# 发文单位：全国人民代表大会常务委员会 / 文 号：中华人民共和国主席令第四十五号 / 发文日期：2020-05-28 ...
# (exports of 法律法规 databases print these above the title or the 目录; labels may hold spaces)
META_LABELS: dict[str, tuple[str, ...]] = {
    "issuer": ("发文单位", "发文机关", "发布机关", "发布部门", "制定机关", "颁布机关"),
    "doc_number": ("发文字号", "文号"),
    "signed_date": ("发文日期", "发布日期", "颁布日期", "公布日期"),
    "effective_date": ("生效日期", "施行日期", "实施日期"),
    "validity": ("效力范围", "时效性", "效力状态"),
}
_LABEL_FIELD = {label: name for name, labels in META_LABELS.items() for label in labels}
_LABEL = re.compile(
    r"(?P<label>" + "|".join(r"\s*".join(label) for label in sorted(_LABEL_FIELD, key=len, reverse=True))
    + r")\s*[：:]\s*"
)
# the block is looked for before the document's first heading or 目录, within this many blocks
META_BLOCK_SCAN = 40


def labelled_fields(text: str) -> dict[str, str]:
    """``发文日期：2020-05-28 生效日期：2021-01-01`` -> {"signed_date": ..., "effective_date": ...};
    empty unless the text opens with a label."""
    marks = list(_LABEL.finditer(text.strip()))
    if not marks or marks[0].start() != 0:
        return {}
    text = text.strip()
    out: dict[str, str] = {}
    for k, m in enumerate(marks):
        value = text[m.end(): marks[k + 1].start() if k + 1 < len(marks) else len(text)].strip()
        name = _LABEL_FIELD[re.sub(r"\s+", "", m.group("label"))]
        if value and name not in out:
            out[name] = value
    return out


def _read_metadata_block(doc: Document, blocks: Sequence[Block]) -> None:
    for b in blocks[:META_BLOCK_SCAN]:
        if b.kind is BlockKind.PARAGRAPH and (is_toc_title(b.text) or parse_heading(b.text, b.set_apart)):
            break
        for name, value in labelled_fields(b.text).items():
            if name.endswith("_date"):
                value = iso_date(value)
            if value and getattr(doc, name) is None:
                setattr(doc, name, value)


# --- a document's own 目录 -------------------------------------------------------------------
# the 目录 levels a document's headings are checked against (编 / 附则 / 分编 / 章 / 节)
TOC_LEVELS = ("part", "supplementary", "subpart", "chapter", "section")
_TOC_TITLE = re.compile(r"^目\s*录$")
_LEADER_PAGE = re.compile(r"^(.*?)(?:[\s.·…．。_-]{2,}|\s+)(\d{1,4})$")


def is_toc_title(text: str) -> bool:
    return bool(_TOC_TITLE.match(text.strip()))


def _split_page(text: str) -> tuple[str, int | None]:
    m = _LEADER_PAGE.match(text.strip())
    if m and m.group(1).strip():
        return m.group(1).strip(" .·…．_"), int(m.group(2))
    return text.strip(), None


# a document 目录's lines are short: longer text is the body beginning. An item (一、…) is
# one line of a title; a 附件 entry may name its attachment in full; the wrapped rest of an
# entry is shorter than a line
TOC_ITEM_MAX_CHARS = 60
TOC_APPENDIX_MAX_CHARS = 80
TOC_WRAP_MAX_CHARS = 40


def parse_toc_blocks(blocks: Sequence[Block], start: int) -> tuple[list[TocEntry], int]:
    """Entries of the 目录 whose title block is ``blocks[start]``; returns (entries, end).

    The 目录 ends at the first block that is not an entry (long text, sentence
    punctuation) or at an entry that repeats the first one: the body's first heading.
    Wrapped entries (a block that is no heading, right after an entry without a page)
    are joined to that entry.
    """
    entries: list[TocEntry] = []
    first_key = None
    chapter: int | None = None
    i = start + 1
    while i < len(blocks):
        block = blocks[i]
        if block.kind is not BlockKind.PARAGRAPH:
            break
        text, page = _split_page(block.text)
        h = parse_heading(text, True)
        if h and h.level in TOC_LEVELS + ("article",):
            key = (h.level, h.number)
            if first_key is None:
                first_key = key
            elif key == first_key:
                break  # the body starts with the 目录's first heading again
            if h.level == "chapter":
                chapter = h.number
            parent = chapter if h.level == "section" else None
            entries.append(TocEntry(h.level, h.number, h.title, page, parent))
        elif h and len(text) <= TOC_ITEM_MAX_CHARS:
            entries.append(TocEntry(h.level, h.number, h.title, page))  # 一、 items: listed, not checked
        elif re.match(r"^附\s*(件|录)", text) and len(text) <= TOC_APPENDIX_MAX_CHARS:
            entries.append(TocEntry("appendix", None, text, page))
        elif (entries and entries[-1].page is None and len(text) <= TOC_WRAP_MAX_CHARS
              and not re.search(r"[。；]", text)):
            entries[-1].title += text  # second line of a wrapped entry
            entries[-1].page = page
        else:
            break
        i += 1
    return entries, i



# the gazette's name (某某市人民政府公报) is one short line of the cover; a longer line that
# says 公报 is a sentence about one
GAZETTE_NAME_MAX_CHARS = 30


def split_issue(blocks: Sequence[Block]) -> IssueParts:
    headers = [i for i, b in enumerate(blocks) if b.kind is BlockKind.PARAGRAPH and doc_number_alone(b.text)]
    toc_at = next((i for i, b in enumerate(blocks) if is_toc_title(b.text)), None)
    limit = headers[0] if headers else len(blocks)
    issue_toc: list[TocEntry] = []
    toc_end = 0
    if toc_at is not None and toc_at < limit:
        toc_end = issue_toc_end(blocks, toc_at, limit)
        issue_toc = parse_issue_toc(blocks, toc_at, toc_end)
        if not issue_toc:
            toc_end = 0  # a document's own 目录, not the issue's
    listed = {_compact(e.doc_number) for e in issue_toc if e.doc_number}
    if listed:
        # only a header whose 文号 the issue 目录 lists starts a document (first occurrence)
        seen: set[str] = set()
        kept = []
        for i in headers:
            num = doc_number_alone(blocks[i].text)
            if num in listed and num not in seen:
                kept.append(i)
                seen.add(num)
        headers = kept or headers
    starts = {i - 1 if i > 0 and _ISSUER_LINE.match(blocks[i - 1].text.strip()) else i: None for i in headers}
    found = {_compact(doc_number_alone(blocks[i].text) or "") for i in headers}
    for entry in issue_toc:  # documents without a 文号 header: find their title instead
        if entry.doc_number and _compact(entry.doc_number) in found:
            continue
        at = find_title(blocks, entry.title, toc_end)
        if at is not None and at not in starts:
            starts[at] = entry.title
    if not starts:
        starts = {toc_end: None}
    order = sorted(starts)
    front = blocks[: order[0]]
    removed = [Removed(b.page_start, b.text, "issue_toc" if toc_at is not None and i >= toc_at else "issue_cover") for i, b in enumerate(front) if b.text]
    gazette = next((b.text.strip() for b in front if "公报" in b.text and len(b.text) <= GAZETTE_NAME_MAX_CHARS), None)
    parts = []
    for k, s in enumerate(order):
        end = order[k + 1] if k + 1 < len(order) else len(blocks)
        parts.append(document_part(list(blocks[s:end]), starts[s]))
    return IssueParts(issue_id([b.text for b in front]) if front else None, gazette, issue_toc, parts, removed)


# a 目录 title is looked for in the body when it has this many characters (a shorter one
# matches too much), by a block that opens with as many of them
TITLE_PREFIX_CHARS = 6
# rapidfuzz ratio (0..100) from which a block is the title: a character or two may differ
# in a title of 20 (a 目录 line's wrap, a full-width bracket)
TITLE_MIN_RATIO = 90


def find_title(blocks: Sequence[Block], title: str, start: int) -> int | None:
    """First block from ``start`` whose text (alone or with the next block) is ``title``."""
    want = _compact(title)
    if len(want) < TITLE_PREFIX_CHARS:
        return None
    for i in range(start, len(blocks)):
        text = _compact(blocks[i].text)
        if not text or not want.startswith(text[: min(len(text), TITLE_PREFIX_CHARS)]):
            continue
        for candidate in (text, text + _compact(blocks[i + 1].text) if i + 1 < len(blocks) else text):
            if fuzz.ratio(candidate, want) >= TITLE_MIN_RATIO:
                return i
    return None


def document_part(blocks: list[Block], title: str | None = None) -> Draft:
    """A document's draft: its header metadata, its own 目录 and its back matter.

    ``title``: the issue 目录's title for a document found by its title (no 文号 header).
    """
    doc = Document(title=title)
    draft = Draft(doc)
    i = 0
    if blocks and (m := _ISSUER_LINE.match(blocks[0].text.strip())):
        doc.issuer = re.sub(r"\s+", " ", m.group(1)).strip()
        i = 1
    if i < len(blocks) and (num := doc_number_alone(blocks[i].text)):
        doc.doc_number = num
        i += 1
        if i < len(blocks) and not blocks[i].text.rstrip().endswith(("：", ":")):
            doc.title = _title_after_issuers(blocks[i].text, doc.issuer)
    _read_metadata_block(doc, blocks)
    for b in blocks:
        if doc.signed_date is None and (date := iso_date(_compact(b.text))) and "年" in b.text:
            doc.signed_date = date
    # the document's own 目录
    body: list[Block] = []
    j = 0
    while j < len(blocks):
        b = blocks[j]
        if b.kind is BlockKind.PARAGRAPH and is_toc_title(b.text) and not doc.toc:
            entries, end = parse_toc_blocks(blocks, j)
            if entries:
                doc.toc = entries
                draft.removed += [Removed(x.page_start, x.text, "toc") for x in blocks[j:end]]
                j = end
                continue
        body.append(b)
        j += 1
    # 公开方式 closes the document; what follows is back matter
    for k, b in enumerate(body):
        if m := _PUBLIC.match(_compact(b.text)):
            doc.publication = m.group(1)
            draft.back_matter = body[k + 1 :]
            body = body[: k + 1]
            break
    draft.blocks = body
    return draft
