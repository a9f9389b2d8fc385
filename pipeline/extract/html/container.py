"""Container choice: the element holding the article.

Every segment gets a value (``segment_value``): prose (CJK text with sentence punctuation and few links) is
positive, link lists and hinted furniture negative, short labels slightly negative. Values are summed
bottom-up over the tree; the element with the largest sum wins (the deepest on ties). Hints are believed
unless that leaves no real prose (then a hint holding most of the page's prose is taken to be the article's
own class). The weights are readability-style and were tuned on the six corpus pages.
"""

from __future__ import annotations

from pipeline.extract.html.text import PUNCT_RE, SENTENCE_PUNCT_RE, SHORT_LINE_CHARS
from pipeline.extract.html.vocab import (
    BYLINE_LINE_RE,
    COMMENTS_HEADING_RE,
    COPYRIGHT_RE,
    RELATED_HEADING_RE,
    SHARE_RE,
    SOURCE_LINE_RE,
)
from pipeline.extract.html.walk import HEADING_LEVEL, Seg

# -- segment value
LINK_LIST_DENSITY = 0.5  # a segment with more of its text in links is a link list: value −n·density
PUNCT_WEIGHT = 4.0  # each punctuation mark is worth 4 characters of prose
TABLE_WEIGHT = 0.5  # a data table's text counts half: tables support an article, they rarely are one
NO_PUNCT_PENALTY = 10.0  # labels, channel names, lone headings: text, but no prose
# -- believing hints
CLASS_HINT_MAX_SHARE = 0.5  # a class-hinted element holding more of the page's prose value is the article
HEADING_HINT_MAX_SHARE = 0.9  # ... a heading-labelled one (a comment thread can outweigh the article) more
LABEL_HEADING_MAX_CHARS = 16  # 推荐阅读 / 全部评论 23条: a labelling heading is this short
# -- "real prose" in the container found with every hint believed
PROSE_PARAGRAPH_CHARS = 30  # a prose paragraph: at least 30 characters,
PROSE_PARAGRAPH_MAX_DENSITY = 0.3  # few links,
PROSE_PARAGRAPH_PUNCT = 2  # at least 2 sentence punctuation marks;
PROSE_MIN_PARAGRAPHS = 2  # the container needs 2 such paragraphs
PROSE_MIN_VALUE = 100.0  # and a value of 100, or
PROSE_MIN_VALUE_SHARE = 0.2  # 20 % of the value of the container found with the size-checked hints

_LABEL_HOLDER_TAGS = ("div", "p", "span")  # besides h1-h6: elements whose parent a labelling heading names


def segment_value(seg: Seg, hint_ok: bool) -> float:
    """How much a segment argues that its ancestors hold the article."""
    n = seg.n
    if n == 0:
        return 0.0
    if seg.hint and hint_ok:
        return -float(n)
    ld = seg.ld
    if ld > LINK_LIST_DENSITY:
        return -n * ld
    if n <= SHORT_LINE_CHARS and (COPYRIGHT_RE.search(seg.text) or SHARE_RE.match(seg.text)):
        return -float(n)
    if n <= SHORT_LINE_CHARS and (SOURCE_LINE_RE.match(seg.text) or BYLINE_LINE_RE.match(seg.text)):
        return 0.0
    p = len(PUNCT_RE.findall(seg.text))
    v = n * (1.0 - ld) ** 2 + PUNCT_WEIGHT * p
    if seg.table is not None:
        v *= TABLE_WEIGHT
    elif p == 0:
        v -= NO_PUNCT_PENALTY
    return v


def valid_hints(segs: list[Seg], heading_hinted: frozenset[int] | set[int] = frozenset()) -> set[int]:
    """Hinted elements (class/id says footer/share/related…, or a 推荐阅读-style heading labels them) whose
    hint is believed. A class-hinted element that holds more than half of the page's prose value is taken to
    be the article after all (a container whose class happens to contain such a word); a heading-labelled
    one (comment threads are often longer than the article) only when it holds more than 90 %."""
    total = 0.0
    agg: dict[int, float] = {}
    for s in segs:
        v = max(0.0, segment_value(s, False))
        total += v
        if s.hint_el is not None:
            agg[id(s.hint_el)] = agg.get(id(s.hint_el), 0.0) + v
    return {
        k
        for k, v in agg.items()
        if v <= (HEADING_HINT_MAX_SHARE if k in heading_hinted else CLASS_HINT_MAX_SHARE) * total
    }


def label_related_blocks(segs: list[Seg]) -> set[int]:
    """A short heading such as 推荐阅读 / 相关新闻 / 热点推荐 (or 我要评论 / 全部评论 23条) marks its parent
    element as a related-links (comments) block: the segments from the heading on inside it get the hint
    ``related`` (``comments``) unless they already carry one. Returns the ids of the labelled elements."""
    heading_hinted: set[int] = set()
    for s in segs:
        reason = _label_of(s)
        if reason is None:
            continue
        holder = s.owner.getparent() if s.tag in HEADING_LEVEL or s.tag in _LABEL_HOLDER_TAGS else None
        if holder is None or holder.tag in ("body", "html"):
            continue
        inside = set(holder.iter())
        after = False
        for t in segs:
            after = after or t is s
            if after and t.hint is None and t.owner in inside:
                t.hint, t.hint_el = reason, holder
        heading_hinted.add(id(holder))
    return heading_hinted


def _label_of(seg: Seg) -> str | None:
    """``related`` / ``comments`` for a short unhinted heading that labels a block so, else None."""
    if seg.n > LABEL_HEADING_MAX_CHARS or seg.hint:
        return None
    if RELATED_HEADING_RE.match(seg.text):
        return "related"
    if COMMENTS_HEADING_RE.match(seg.text):
        return "comments"
    return None


def hints_and_container(body, segs: list[Seg], heading_hinted: set[int]) -> tuple[set[int], object]:
    """Believed hints and the article container. First every hint is believed; that container is kept when
    it still holds real prose (≥ 2 paragraphs of ≥ 30 characters with sentence punctuation and a value of
    ≥ 100, or ≥ 20 % of the value found with the size-checked hints of ``valid_hints``) - so a comment thread
    longer than the article stays out. Otherwise a hint must have wiped out the article itself (an article
    container whose class says "share"…), and the size-checked hints decide."""
    every = {id(s.hint_el) for s in segs if s.hint_el is not None}
    checked = valid_hints(segs, heading_hinted)
    first, v_first = choose_container(body, segs, every)
    if every == checked:
        return every, first
    second, v_second = choose_container(body, segs, checked)
    if first is None or first is second:
        return checked, second
    if _prose_paragraphs(first, segs) >= PROSE_MIN_PARAGRAPHS and (
        v_first >= PROSE_MIN_VALUE or v_first >= PROSE_MIN_VALUE_SHARE * v_second
    ):
        return every, first
    return checked, second


def _prose_paragraphs(container, segs: list[Seg]) -> int:
    """Segments inside ``container`` that read as prose paragraphs."""
    inside = set(container.iter())
    return sum(
        1
        for s in segs
        if s.owner in inside
        and s.n >= PROSE_PARAGRAPH_CHARS
        and s.ld < PROSE_PARAGRAPH_MAX_DENSITY
        and len(SENTENCE_PUNCT_RE.findall(s.text)) >= PROSE_PARAGRAPH_PUNCT
    )


def choose_container(body, segs: list[Seg], valid: set[int]):
    """The element whose subtree has the largest summed segment value, and that value; on a tie the deepest
    one (so that zero-value neighbours such as layout images stay outside). ``(None, value)`` when no element
    has a positive sum."""
    sums: dict = {}
    for s in segs:
        v = segment_value(s, s.hint_believed(valid))
        sums[s.owner] = sums.get(s.owner, 0.0) + v
    if not sums:
        return None, 0.0
    for el in reversed(list(body.iter())):
        v = sums.get(el)
        if v is None or el is body:
            continue
        parent = el.getparent()
        if parent is not None:
            sums[parent] = sums.get(parent, 0.0) + v
    best, best_v = None, float("-inf")
    for el in body.iter():
        v = sums.get(el)
        if v is not None and v >= best_v:
            best, best_v = el, v
    if best is None or best_v <= 0:
        return None, best_v
    return best, best_v
