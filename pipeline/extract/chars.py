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
from pipeline.settings import DEFAULT_LAYOUT, TextLayoutSettings

_LATIN = re.compile(r"[0-9A-Za-z%.,:;/\-+()]")


_X0, _BASELINE = itemgetter(1), itemgetter(3)
# pt: a gap is wider than a limit only by more than this. Backends round coordinates
# differently (PDFium in float32, pdfminer in float64), and a producer that spaces by a
# typographic quantity (Typst's quarter em) puts gaps exactly on a limit: both must read it alike
GAP_ROUNDING_PT = 0.001


class Char(NamedTuple):  # a tuple: millions are made, and tuples are cheap to make
    text: str
    x0: float
    x1: float
    baseline: float  # distance of the baseline from the top of the page
    size: float


def _is_cjk(text: str) -> bool:
    return bool(text) and unicodedata.east_asian_width(text[0]) in "WF"


def _row_lines(row: list[Char], page_no: int, limits: tuple[float, float, float, float, float, float]) -> list[Line]:
    """One text row -> its gap-separated segments as lines, in one pass.

    Within a segment a space is inserted where the PDF positioned words instead of drawing
    a space glyph; between two CJK characters only a wide gap counts (justified text
    spreads them a little). ``limits``: ``_row_limits``. (Hot loop: fields are unpacked
    once per character, the settings read once per ``chars_to_lines`` call.)
    """
    segment_gap, column_gap, other_baseline, word_space, cjk_space, cjk_latin_space = limits
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
            # columns' lines that happen to sit within same_line_em of each other)
            if gap > segment_gap * big or (gap > column_gap * big and abs(c_base - baseline) > other_baseline):
                _emit(lines, parts, x0, x1, size, baseline, page_no, gaps)
                parts, gaps, x0, x1, size, baseline = [], [], None, None, 0.0, 0.0
            elif (gap > word_space * big + GAP_ROUNDING_PT and not space and not p_space
                    and gap > _space_limit(p_text, text, cjk_space, cjk_latin_space) * big + GAP_ROUNDING_PT):
                parts.append(" ")
                if gap > column_gap * big:
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


def _space_limit(before: str, after: str, cjk_space: float, cjk_latin_space: float) -> float:
    """The gap (em) beyond which two characters are words apart, when wider than a word
    space: between CJK characters justification spreads them, between CJK and Latin the
    typesetter's CJK-Latin spacing does."""
    cjk = _is_cjk(before) + _is_cjk(after)
    return cjk_space if cjk == 2 else cjk_latin_space if cjk == 1 else 0.0


def _row_limits(layout: TextLayoutSettings) -> tuple[float, float, float, float, float, float]:
    """The tolerances ``_row_lines`` reads for every character, as one tuple to unpack."""
    return (layout.segment_gap_em, layout.column_gap_em, layout.other_baseline_pt, layout.word_space_em,
            layout.cjk_space_em, layout.cjk_latin_space_em)


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


def chars_to_lines(chars: Iterable[Char], page_no: int, layout: TextLayoutSettings = DEFAULT_LAYOUT) -> list[Line]:
    """Group characters into lines (by baseline) and lines into gap-separated segments
    (``layout``: ``same_line_em``, ``segment_gap_em``, ``column_gap_em``, ...).

    Lines come out in reading order: top to bottom, then left to right.
    """
    same_line, limits = layout.same_line_em, _row_limits(layout)
    ordered = sorted((c for c in chars if c[0] and c[4] > 0), key=_BASELINE)
    rows: list[list[Char]] = []
    row_base, row_size = 0.0, 0.0
    for ch in ordered:
        base, c_size = ch[3], ch[4]
        size = c_size if c_size > row_size else row_size
        if rows and abs(row_base - base) <= same_line * size:
            rows[-1].append(ch)
        else:
            rows.append([ch])
            row_base, row_size = base, c_size
    return [line for row in rows for line in _row_lines(row, page_no, limits)]


def turned_runs(chars: list[Char], layout: TextLayoutSettings = DEFAULT_LAYOUT) -> list[list[Char]]:
    """Turned characters (in drawing order) -> the strings they were drawn as: a run ends
    where the next character is not close to the previous one (``turned_run_em``)."""
    runs: list[list[Char]] = []
    reach = layout.turned_run_em
    for c in chars:
        if runs:
            p = runs[-1][-1]
            near = (abs(c.x0 - p.x0) <= reach * max(c.size, p.size)
                    and abs(c.baseline - p.baseline) <= reach * max(c.size, p.size))
            if near:
                runs[-1].append(c)
                continue
        runs.append([c])
    return runs


def page_lines(chars: list[Char], turned: list[Char], page_no: int, warnings: list[str],
               layout: TextLayoutSettings = DEFAULT_LAYOUT) -> list[Line]:
    """A page's lines: its upright text in rows, then its turned text, one line per string.

    Turned text among upright text (a diagonal watermark, a rotated stamp) is kept apart from
    the body rows it would cut through and tagged ``rotated_text``, so cleaning records it. A page whose text
    is mostly turned (a landscape table drawn on a portrait page) keeps it as body text.
    """
    lines = chars_to_lines(chars, page_no, layout)
    if not turned:
        return lines
    mostly_turned = len(turned) > len(chars)
    if mostly_turned:
        warnings.append(f"page {page_no}: most text is drawn turned (a rotated page?); read string by string")
    for run in turned_runs(turned, layout):
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
