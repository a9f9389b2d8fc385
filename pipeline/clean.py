"""Page furniture: watermarks, running headers/footers and page numbers.

Lines are re-tagged (``layer`` + ``reason``), never dropped, so the storage stage can
write every one of them to the ``removed`` dataset. Rules:

* ``watermark``: the gazette's 本文与正式文件同等效力 in any variant (full/half-width
  brackets, spaces, up to two characters missing, extra or changed), anywhere on the page,
  alone on its line or at either end of one: a line that also carries the page number
  (``— 12 —（本文与正式文件同等效力）``) is split in two, and each part is recorded.
* ``page_number``: a bare number in the header/footer band (``— 12 —``, ``- 3 -``,
  ``第 3 页``, ``3/25``); its value becomes ``Page.printed_no``.
* ``running_header`` / ``running_footer``: a band line whose text (digits ignored) repeats
  on many pages. Found by position *and* repetition, so no header text is configured.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from pipeline.chinese import find_watermark, fold
from pipeline.model import Layer, Line, Page
from pipeline.settings import Settings, TextLayoutSettings, resolve

_DASHES = "-‐‑‒–—―－﹣~～·•_"
_PAGE_NUMBER = re.compile(
    rf"^[{_DASHES}\s]*(?:第\s*)?(\d{{1,4}})(?:\s*页)?(?:\s*[/，,]?\s*(?:共\s*)?\d{{1,4}}\s*页?)?[{_DASHES}\s]*$"
)
_ROMAN = re.compile(r"^[\s\-—–]*([ivxlcdm]{1,6}|[IVXLCDM]{1,6})[\s\-—–]*$")


def is_watermark(text: str) -> bool:
    """Is the whole of ``text`` the watermark (in any of its variants)?"""
    span = find_watermark(text)
    return span is not None and not (text[: span[0]] + text[span[1]:]).strip()


def split_watermark(line: Line) -> list[Line]:
    """``line``, or its two parts when the watermark shares it with other text (a page
    number beside it): the watermark part tagged, the rest left for the other rules. Each
    part's box is the line's, cut where its characters are (by their share of the line)."""
    span = find_watermark(line.text)
    if span is None:
        return [line]
    start, end = span
    rest = (line.text[:start] + line.text[end:]).strip()
    mark = replace(line, text=line.text[start:end].strip(), layer=Layer.BACKGROUND, reason="watermark")
    if not rest:
        return [mark]
    if line.bbox is None:
        return [replace(line, text=rest), mark]
    x0, top, x1, bottom = line.bbox
    cut = x0 + (x1 - x0) * (start if start else end) / max(len(line.text), 1)
    mark_box, rest_box = ((x0, top, cut, bottom), (cut, top, x1, bottom)) if start == 0 else \
        ((cut, top, x1, bottom), (x0, top, cut, bottom))
    return [replace(line, text=rest, bbox=rest_box), replace(mark, bbox=mark_box)]


def page_number_value(text: str) -> int | None:
    m = _PAGE_NUMBER.match(unicodedata.normalize("NFKC", text).strip())
    if m:
        return int(m.group(1))
    return None


def _repeat_key(text: str) -> str:
    return re.sub(r"\d+", "#", fold(text))


def _in_band(line: Line, page: Page, band: float) -> str | None:
    """"top" or "bottom" for a line in the page's header or footer band (``band``: a share
    of the page height), else None."""
    if line.bbox is None:
        return None
    if line.bbox[3] <= page.height * band:
        return "top"
    if line.bbox[1] >= page.height * (1 - band):
        return "bottom"
    return None


def _in_table(line: Line, page: Page) -> bool:
    if line.bbox is None:
        return False
    cx, cy = (line.bbox[0] + line.bbox[2]) / 2, (line.bbox[1] + line.bbox[3]) / 2
    return any(t.bbox[0] <= cx <= t.bbox[2] and t.bbox[1] <= cy <= t.bbox[3] for t in page.tables)


def _positions(page: Page, layout: TextLayoutSettings) -> dict[int, tuple[str, bool]]:
    """Candidate furniture lines: id -> (top/bottom, inside the margin band).

    Besides the band (``margin_band_share``), the outermost text row at either end (within
    ``outermost_row_pt``) counts as a candidate, since some layouts set the header lower than
    the band; repetition still has to confirm it. Lines inside a table never count: a table
    may reach into the band.
    """
    band, row = layout.margin_band_share, layout.outermost_row_pt
    placed = [ln for ln in page.lines if ln.bbox is not None and ln.layer is Layer.BODY and not _in_table(ln, page)]
    out: dict[int, tuple[str, bool]] = {}
    for ln in placed:
        pos = _in_band(ln, page, band)
        if pos:
            out[id(ln)] = (pos, True)
    if placed:
        first = min(ln.top for ln in placed)
        last = max(ln.top for ln in placed)
        for ln in placed:
            if id(ln) in out:
                continue
            if abs(ln.top - first) < row:
                out[id(ln)] = ("top", False)
            elif abs(ln.top - last) < row:
                out[id(ln)] = ("bottom", False)
    return out


def find_repeated(pages: Sequence[Page], settings: Settings | None = None) -> set[tuple[str, str]]:
    """(band, key) pairs of margin lines that repeat on enough pages to be furniture: on
    ``repeat_min_share`` of them, and on at least ``repeat_min_pages``."""
    layout = resolve(settings).layout
    counts: Counter[tuple[str, str]] = Counter()
    for page in pages:
        by_id = {id(ln): ln for ln in page.lines}
        cands = _positions(page, layout)
        counts.update({(pos, _repeat_key(by_id[i].text)) for i, (pos, _) in cands.items()})
    # too few pages to tell a running header from content that merely repeats
    if len(pages) < layout.repeat_min_pages:
        return set()
    need = max(layout.repeat_min_pages, int(len(pages) * layout.repeat_min_share + 0.999))  # the share, rounded up
    return {key for key, n in counts.items() if n >= need and key[1] not in ("", "#")}


def classify(line: Line, where: tuple[str, bool] | None, repeated: set[tuple[str, str]]) -> str | None:
    """The furniture reason for one line, or None when it is body text.

    ``where``: (top/bottom, inside the band) for margin candidates; a bare number is a
    page number only inside the band.
    """
    if where is None:
        return None
    pos, in_band = where
    if in_band and (page_number_value(line.text) is not None or _ROMAN.match(line.text)):
        return "page_number"
    if (pos, _repeat_key(line.text)) in repeated:
        return "running_header" if pos == "top" else "running_footer"
    return None


def clean_pages(pages: Sequence[Page], settings: Settings | None = None) -> list[Page]:
    """Tag furniture on every page (where it sits: ``settings.layout``); returns new pages
    (inputs are left untouched)."""
    settings = resolve(settings)
    pages = [replace(p, lines=[part for ln in p.lines for part in
                               (split_watermark(ln) if ln.layer is Layer.BODY else [ln])]) for p in pages]
    repeated = find_repeated(pages, settings)
    cleaned = []
    for page in pages:
        cands = _positions(page, settings.layout)
        lines = []
        printed = None
        for ln in page.lines:
            if ln.reason == "watermark":
                lines.append(ln)
                continue
            if ln.layer is not Layer.BODY:  # turned text, set apart at extraction
                lines.append(replace(ln, reason="watermark") if is_watermark(ln.text) else ln)
                continue
            reason = classify(ln, cands.get(id(ln)), repeated)
            if reason is None:
                lines.append(ln)
                continue
            layer = Layer.BACKGROUND if reason == "watermark" else Layer.FURNITURE
            lines.append(replace(ln, layer=layer, reason=reason))
            if reason == "page_number" and printed is None:
                printed = page_number_value(ln.text)
        cleaned.append(replace(page, lines=lines, printed_no=printed))
    return cleaned
