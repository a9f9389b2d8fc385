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

from pipeline.model import Layer, Line

_LATIN = re.compile(r"[0-9A-Za-z%.,:;/\-+()]")
# a gap wider than this many font sizes splits a line into separate segments (two columns,
# a left and right header, key/value colophons)
SEGMENT_GAP = 2.5
# baselines closer than this share of the font size are on the same line
SAME_LINE = 0.45
# a blank stretch at least this many font sizes wide inside a line (and narrower than
# SEGMENT_GAP) is noted on the line: a column gutter can be this narrow (8 mm at 12 pt is
# 1.9), while justified text never spreads its characters this far
COLUMN_GAP = 1.2
# baselines further apart than this (pt) across such a stretch are two lines side by side
OTHER_BASELINE_PT = 1.0


_X0, _BASELINE = itemgetter(1), itemgetter(3)


class Char(NamedTuple):  # a tuple: millions are made, and tuples are cheap to make
    text: str
    x0: float
    x1: float
    baseline: float  # distance of the baseline from the top of the page
    size: float


def _is_cjk(text: str) -> bool:
    return bool(text) and unicodedata.east_asian_width(text[0]) in "WF"


def _row_lines(row: list[Char], page_no: int) -> list[Line]:
    """One text row -> its gap-separated segments as lines, in one pass.

    Within a segment a space is inserted where the PDF positioned words instead of drawing
    a space glyph; between two CJK characters only a wide gap counts (justified text
    spreads them a little). (Hot loop: fields are unpacked once per character.)
    """
    row.sort(key=_X0)
    lines: list[Line] = []
    parts: list[str] = []
    gaps: list[tuple[float, float, int]] = []
    x0 = x1 = None
    size = baseline = 0.0
    p_text, p_x1, p_size, p_space = "", 0.0, 0.0, True
    first = True
    for text, c_x0, c_x1, c_base, c_size in row:
        space = text.isspace()
        if not first:
            gap = c_x0 - p_x1
            big = c_size if c_size > p_size else p_size
            # a wide gap ends the segment; so does a column gap between two baselines (two
            # columns' lines that happen to sit within SAME_LINE of each other)
            if gap > SEGMENT_GAP * big or (gap > COLUMN_GAP * big and abs(c_base - baseline) > OTHER_BASELINE_PT):
                _emit(lines, parts, x0, x1, size, baseline, page_no, gaps)
                parts, gaps, x0, x1, size, baseline = [], [], None, None, 0.0, 0.0
            elif (gap > 0.25 * big and not space and not p_space
                    and (gap > 0.75 * big or not (_is_cjk(p_text) and _is_cjk(text)))):
                parts.append(" ")
                if gap > COLUMN_GAP * big:
                    gaps.append((p_x1, c_x0, sum(map(len, parts))))
        first = False
        parts.append(text)
        if c_size > size:
            size = c_size
        if c_base > baseline:
            baseline = c_base
        if not space:  # the box spans the visible characters
            if x0 is None or c_x0 < x0:
                x0 = c_x0
            if x1 is None or c_x1 > x1:
                x1 = c_x1
        p_text, p_x1, p_size, p_space = text, c_x1, c_size, space
    _emit(lines, parts, x0, x1, size, baseline, page_no, gaps)
    return lines


def _emit(lines: list[Line], parts: list[str], x0, x1, size: float, baseline: float, page_no: int,
          gaps: list[tuple[float, float, int]]) -> None:
    raw = "".join(parts)
    text = raw.strip()
    if text and x0 is not None:
        bbox = (round(x0, 2), round(baseline - size, 2), round(x1, 2), round(baseline, 2))
        normal = unicodedata.normalize("NFC", text)
        lead = len(raw) - len(raw.lstrip())
        kept = () if len(normal) != len(text) else tuple(  # offsets hold while NFC keeps the length
            (round(a, 2), round(b, 2), at - lead) for a, b, at in gaps if 0 < at - lead < len(text))
        lines.append(Line(normal, page_no, bbox, round(size, 2), gaps=kept))


def chars_to_lines(chars: Iterable[Char], page_no: int) -> list[Line]:
    """Group characters into lines (by baseline) and lines into gap-separated segments.

    Lines come out in reading order: top to bottom, then left to right.
    """
    ordered = sorted((c for c in chars if c[0] and c[4] > 0), key=_BASELINE)
    rows: list[list[Char]] = []
    row_base, row_size = 0.0, 0.0
    for ch in ordered:
        base, c_size = ch[3], ch[4]
        size = c_size if c_size > row_size else row_size
        if rows and abs(row_base - base) <= SAME_LINE * size:
            rows[-1].append(ch)
        else:
            rows.append([ch])
            row_base, row_size = base, c_size
    return [line for row in rows for line in _row_lines(row, page_no)]


def turned_runs(chars: list[Char]) -> list[list[Char]]:
    """Turned characters (in drawing order) -> the strings they were drawn as: a run ends
    where the next character is not close to the previous one."""
    runs: list[list[Char]] = []
    for c in chars:
        if runs:
            p = runs[-1][-1]
            near = abs(c.x0 - p.x0) <= 3 * max(c.size, p.size) and abs(c.baseline - p.baseline) <= 3 * max(c.size, p.size)
            if near:
                runs[-1].append(c)
                continue
        runs.append([c])
    return runs


def page_lines(chars: list[Char], turned: list[Char], page_no: int, warnings: list[str]) -> list[Line]:
    """A page's lines: its upright text in rows, then its turned text, one line per string.

    Turned text among upright text (a diagonal watermark, a rotated stamp) is kept apart from
    the body rows it would cut through and tagged ``rotated_text``, so cleaning records it. A page whose text
    is mostly turned (a landscape table drawn on a portrait page) keeps it as body text.
    """
    lines = chars_to_lines(chars, page_no)
    if not turned:
        return lines
    mostly_turned = len(turned) > len(chars)
    if mostly_turned:
        warnings.append(f"page {page_no}: most text is drawn turned (a rotated page?); read string by string")
    for run in turned_runs(turned):
        text = "".join(c.text for c in run).strip()
        if not text:
            continue
        bbox = (min(c.x0 for c in run), min(c.baseline - c.size for c in run),
                max(c.x1 for c in run), max(c.baseline for c in run))
        if mostly_turned:
            lines.append(Line(text, page_no, bbox, run[0].size))
        else:  # cleaning tells a watermark from other turned text
            lines.append(Line(text, page_no, bbox, run[0].size, Layer.BACKGROUND, "rotated_text"))
    return lines
