"""目录 check: a document's (and an issue's) table of contents against the body (the 目录
itself is parsed where the issue is split, ``pipeline/issue.py``; reports: ``pipeline/report.py``).

Statuses per 目录 entry: ``ok`` (titles equal after normalising whitespace, width and
quote styles), ``title_mismatch`` (same level and number, other title; ``similarity`` from
rapidfuzz), ``missing``, ``out_of_order``, ``page_mismatch`` (printed page of the heading
differs from the entry's page). Body headings at a listed level that the 目录 lacks are
``extra``. Numbering ``gap`` and ``duplicate`` rows are reported with or without a 目录.
"""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz import fuzz

from pipeline.chinese import fold
from pipeline.issue import TOC_LEVELS as CHECKED_LEVELS
from pipeline.model import Document, Section, TocCheck, TocEntry


def norm_title(text: str) -> str:
    """The form two titles are compared in (``chinese.fold``)."""
    return fold(text)



# --- checking ---------------------------------------------------------------------------


def _scoped_keys(headings: Sequence[tuple[str, int | None]]) -> list[tuple]:
    """Keys that tell headings apart in reading order: a chapter is numbered within its 编
    (the 民法典's chapters start again in every 编, and run on across its 分编), a 分编
    within its 编, a section within its chapter."""
    part = chapter = None
    keys = []
    for level, number in headings:
        if level in ("part", "supplementary"):
            part, chapter = number, None
            keys.append((level, number))
        elif level == "subpart":
            keys.append((level, part, number))
        elif level == "chapter":
            chapter = number
            keys.append((level, part, number))
        else:
            keys.append((level, part, chapter, number))
    return keys


def _body_headings(sections: Sequence[Section]) -> list[tuple[tuple, Section]]:
    checked = [s for s in sections if s.level in CHECKED_LEVELS]
    return list(zip(_scoped_keys([(s.level, s.number) for s in checked]), checked, strict=True))


def _lis(values: list[int]) -> set[int]:
    """Indexes of one longest strictly increasing subsequence of ``values``."""
    import bisect

    tails: list[int] = []
    tails_idx: list[int] = []
    prev = [-1] * len(values)
    for i, v in enumerate(values):
        k = bisect.bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
            tails_idx.append(i)
        else:
            tails[k] = v
            tails_idx[k] = i
        prev[i] = tails_idx[k - 1] if k else -1
    out, i = set(), tails_idx[-1] if tails_idx else -1
    while i >= 0:
        out.add(i)
        i = prev[i]
    return out


def check_document(doc: Document, printed_offset: int | None) -> list[TocCheck]:
    """Compare the document's 目录 with its section headings; add numbering checks."""
    checks: list[TocCheck] = []
    body = _body_headings(doc.sections)
    entries = [e for e in doc.toc if e.level in CHECKED_LEVELS]
    if entries:
        checks += _compare(entries, body, printed_offset)
    checks += numbering_checks(doc.sections)
    return checks


def _compare(entries: list[TocEntry], body: list[tuple[tuple, Section]], offset: int | None) -> list[TocCheck]:
    positions: dict[tuple, list[int]] = {}
    for pos, (key, _) in enumerate(body):
        positions.setdefault(key, []).append(pos)
    matched: list[int | None] = []
    used: set[int] = set()
    for key in _scoped_keys([(e.level, e.number) for e in entries]):
        cands = [p for p in positions.get(key, []) if p not in used]
        matched.append(cands[0] if cands else None)
        if cands:
            used.add(cands[0])
    found = [(i, p) for i, p in enumerate(matched) if p is not None]
    in_order = {found[k][0] for k in _lis([p for _, p in found])}
    checks = []
    for i, e in enumerate(entries):
        pos = matched[i]
        if pos is None:
            checks.append(TocCheck(e.level, e.number, "missing", e.title, None, None, e.page, None, e.parent_number))
            continue
        sec = body[pos][1]
        body_page = sec.page_start + offset if (offset is not None and sec.page_start is not None) else None
        same = norm_title(e.title) == norm_title(sec.title)
        sim = round(fuzz.ratio(norm_title(e.title), norm_title(sec.title)) / 100, 3)
        if i not in in_order:
            status = "out_of_order"
        elif not same:
            status = "title_mismatch"
        elif e.page is not None and body_page is not None and e.page != body_page:
            status = "page_mismatch"
        else:
            status = "ok"
        checks.append(TocCheck(e.level, e.number, status, e.title, sec.title, sim, e.page, body_page, e.parent_number))
    levels = {e.level for e in entries}
    by_seq = {sec.seq: sec for _, sec in body}
    for pos, (_, sec) in enumerate(body):
        if pos not in used and sec.level in levels:
            page = sec.page_start + offset if (offset is not None and sec.page_start is not None) else None
            parent = by_seq.get(sec.parent_seq) if sec.level == "section" else None
            checks.append(TocCheck(sec.level, sec.number, "extra", None, sec.title, None, None, page,
                                   parent.number if parent is not None and parent.level == "chapter" else None))
    return checks


def numbering_checks(sections: Sequence[Section]) -> list[TocCheck]:
    """Gaps and duplicates in sibling numbering (第三章 then 第五章), 目录 or not.

    A gap is a number below the highest sibling that no sibling carries (so two swapped
    siblings are no gap); a duplicate is a number carried twice.
    """
    checks = []
    by_seq = {s.seq: s for s in sections}
    groups: dict[tuple, list[Section]] = {}
    for s in sections:
        if s.level in CHECKED_LEVELS + ("article",) and s.number is not None:
            groups.setdefault((s.level, _numbering_scope(s, by_seq)), []).append(s)
    carried: dict[str, int] = {}  # per level, the highest number of the scopes before
    for (level, scope_seq), sibs in groups.items():
        parent = by_seq.get(scope_seq) if level == "section" else None
        parent_no = parent.number if parent is not None else None
        numbers = {s.number for s in sibs}
        # numbering that runs on from the previous 编 (第六章 opens 第二编) is no gap
        floor = carried.get(level, 0) if min(numbers) == carried.get(level, 0) + 1 else 0
        carried[level] = max(numbers)
        seen: dict[int, Section] = {}
        for s in sibs:
            if s.number in seen:
                checks.append(TocCheck(level, s.number, "duplicate", None, s.title, None, None, None, parent_no,
                                       f"{s.heading} repeats {seen[s.number].heading}"))
            seen.setdefault(s.number, s)
        for s in sorted(seen.values(), key=lambda x: x.number):
            lower = max((n for n in numbers if n < s.number), default=floor)
            run = range(lower + 1, s.number)  # numbers no sibling carries, just below this one
            if run:
                checks.append(TocCheck(level, s.number, "gap", None, s.title, None, None, None, parent_no,
                                       f"numbers {', '.join(map(str, run))} skipped before {s.heading}"))
    return checks


def _numbering_scope(s: Section, by_seq: dict[int, Section]) -> int | None:
    """The section whose children share one numbering with ``s``: a section's chapter, a
    chapter's or 分编's 编; articles run through the whole document."""
    within = {"section": ("chapter",), "chapter": ("part",), "subpart": ("part",)}.get(s.level)
    parent = by_seq.get(s.parent_seq) if s.parent_seq is not None else None
    while within and parent is not None:
        if parent.level in within:
            return parent.seq
        parent = by_seq.get(parent.parent_seq) if parent.parent_seq is not None else None
    return s.parent_seq if s.level == "section" else None


def check_issue(toc: Sequence[TocEntry], documents: Sequence[Document]) -> list[TocCheck]:
    """Every document the issue's 目录 lists is there and starts on the referenced page."""
    checks = []
    by_number = {norm_title(d.doc_number): d for d in documents if d.doc_number}
    seen = set()
    for e in toc:
        doc = by_number.get(norm_title(e.doc_number or ""))
        if doc is None:
            checks.append(TocCheck("document", None, "missing", e.title, None, None, e.page, None, None, e.doc_number))
            continue
        seen.add(doc.doc_id)
        sim = round(fuzz.ratio(norm_title(e.title), norm_title(doc.title or "")) / 100, 3)
        status = "ok"
        if e.page is not None and doc.printed_page_start is not None and e.page != doc.printed_page_start:
            status = "page_mismatch"
        checks.append(TocCheck("document", None, status, e.title, doc.title, sim, e.page, doc.printed_page_start, None, e.doc_number))
    if toc:
        for d in documents:
            if d.doc_id not in seen:
                checks.append(TocCheck("document", None, "extra", None, d.title, None, None, d.printed_page_start, None, d.doc_number))
    return checks
