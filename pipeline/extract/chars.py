"""Characters -> visual lines, shared by every PDF backend.

A backend reduces each character to a ``Char`` (text, x0, x1, baseline, size) in top-left
coordinates. Grouping them here, in one place, is what lets two backends produce the same
lines from the same page.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.model import Line

_LATIN = re.compile(r"[0-9A-Za-z%.,:;/\-+()]")
# a gap wider than this many font sizes splits a line into separate segments (two columns,
# a left and right header, key/value colophons)
SEGMENT_GAP = 2.5
# baselines closer than this share of the font size are on the same line
SAME_LINE = 0.45


@dataclass(frozen=True, slots=True)
class Char:
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
        if prev is not None and not ch.text.isspace() and not prev.text.isspace():
            gap = ch.x0 - prev.x1
            size = max(ch.size, prev.size, 1.0)
            both_cjk = _is_cjk(prev.text) and _is_cjk(ch.text)
            # PDFs often position words instead of drawing a space glyph
            if gap > (0.75 if both_cjk else 0.25) * size:
                out.append(" ")
        out.append(ch.text)
        prev = ch
    return "".join(out)


def _segments(row: list[Char]) -> list[list[Char]]:
    row.sort(key=lambda c: c.x0)
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
    ordered = sorted((c for c in chars if c.text and c.size > 0), key=lambda c: (round(c.baseline, 1), c.x0))
    rows: list[list[Char]] = []
    for ch in ordered:
        if rows and abs(rows[-1][0].baseline - ch.baseline) <= SAME_LINE * max(ch.size, rows[-1][0].size):
            rows[-1].append(ch)
        else:
            rows.append([ch])
    lines: list[Line] = []
    for row in rows:
        for seg in _segments(row):
            text = _join(seg).strip()
            if not text:
                continue
            size = max(c.size for c in seg)
            baseline = max(c.baseline for c in seg)
            x0 = min(c.x0 for c in seg if not c.text.isspace()) if any(not c.text.isspace() for c in seg) else seg[0].x0
            x1 = max(c.x1 for c in seg if not c.text.isspace()) if any(not c.text.isspace() for c in seg) else seg[-1].x1
            bbox = (round(x0, 2), round(baseline - size, 2), round(x1, 2), round(baseline, 2))
            lines.append(Line(text=unicodedata.normalize("NFC", text), page_no=page_no, bbox=bbox, font_size=round(size, 2)))
    return lines
