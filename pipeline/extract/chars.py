"""Characters -> visual lines, shared by every PDF backend.

A backend reduces each character to a ``Char`` (text, x0, x1, baseline, size) in top-left
coordinates. Grouping them here, in one place, is what lets two backends produce the same
lines from the same page.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from operator import itemgetter
from typing import NamedTuple

from pipeline.model import Line

_LATIN = re.compile(r"[0-9A-Za-z%.,:;/\-+()]")
# a gap wider than this many font sizes splits a line into separate segments (two columns,
# a left and right header, key/value colophons)
SEGMENT_GAP = 2.5
# baselines closer than this share of the font size are on the same line
SAME_LINE = 0.45


_X0, _BASELINE = itemgetter(1), itemgetter(3)


class Char(NamedTuple):  # a tuple: millions are made, and tuples are cheap to make
    text: str
    x0: float
    x1: float
    baseline: float  # distance of the baseline from the top of the page
    size: float


def _is_cjk(text: str) -> bool:
    return bool(text) and unicodedata.east_asian_width(text[0]) in "WF"


def _join(chars: list[Char]) -> str:
    out: list[str] = []
    prev: Char | None = None
    for ch in chars:
        if prev is not None:
            gap = ch.x0 - prev.x1
            size = ch.size if ch.size > prev.size else prev.size
            # PDFs often position words instead of drawing a space glyph; between two CJK
            # characters only a wide gap counts (justified text spreads them a little)
            if (gap > 0.25 * size and not ch.text.isspace() and not prev.text.isspace()
                    and (gap > 0.75 * size or not (_is_cjk(prev.text) and _is_cjk(ch.text)))):
                out.append(" ")
        out.append(ch.text)
        prev = ch
    return "".join(out)


def _segments(row: list[Char]) -> list[list[Char]]:
    row.sort(key=_X0)
    segs: list[list[Char]] = [[row[0]]]
    for ch in row[1:]:
        last = segs[-1][-1]
        if ch.x0 - last.x1 > SEGMENT_GAP * max(ch.size, last.size, 1.0):
            segs.append([ch])
        else:
            segs[-1].append(ch)
    return segs


def chars_to_lines(chars: Iterable[Char], page_no: int) -> list[Line]:
    """Group characters into lines (by baseline) and lines into gap-separated segments.

    Lines come out in reading order: top to bottom, then left to right.
    """
    ordered = sorted((c for c in chars if c.text and c.size > 0), key=_BASELINE)
    rows: list[list[Char]] = []
    row_base, row_size = 0.0, 0.0
    for ch in ordered:
        size = ch.size if ch.size > row_size else row_size
        if rows and abs(row_base - ch.baseline) <= SAME_LINE * size:
            rows[-1].append(ch)
        else:
            rows.append([ch])
            row_base, row_size = ch.baseline, ch.size
    lines: list[Line] = []
    for row in rows:
        for seg in _segments(row):
            text = _join(seg).strip()
            if text:
                lines.append(_line(seg, text, page_no))
    return lines


def _line(seg: list[Char], text: str, page_no: int) -> Line:
    size = baseline = 0.0
    x0 = x1 = None  # the box spans the visible characters
    for c in seg:
        if c.size > size:
            size = c.size
        if c.baseline > baseline:
            baseline = c.baseline
        if not c.text.isspace():
            if x0 is None or c.x0 < x0:
                x0 = c.x0
            if x1 is None or c.x1 > x1:
                x1 = c.x1
    if x0 is None:
        x0, x1 = seg[0].x0, seg[-1].x1
    bbox = (round(x0, 2), round(baseline - size, 2), round(x1, 2), round(baseline, 2))
    return Line(unicodedata.normalize("NFC", text), page_no, bbox, round(size, 2))
