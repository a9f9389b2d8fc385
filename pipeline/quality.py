"""Text-layer quality: how much of a PDF's text is garbage rather than text.

A PDF can carry a text layer that maps to nothing: glyphs without a Unicode mapping (an
Identity-H font with no ToUnicode: pdfminer gives ``(cid:N)``, PDFium its own guess; both
backends give U+FFFD), Private Use Area code points (a symbol font's private encoding),
or control characters. Stored as text, it looks clean and is not.

The verdict is per input: above ``GARBLED_INPUT_SHARE`` of its characters the input fails as
``garbled_text_layer`` (like a scan without text, it needs OCR, and its rows would be
garbage presented as clean text). Below it, each page above ``GARBLED_PAGE_SHARE`` gets a
warning, which goes to the document that page belongs to: a heading set in an unmapped
font costs a warning, not the document.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from pipeline.model import Page

# share of an input's characters that fails it: a body font without a mapping garbles well
# over half the text, a heading or symbol font a few per cent
GARBLED_INPUT_SHARE = 0.2
# share of a page's characters that earns the page a warning: a stray symbol or two does not
GARBLED_PAGE_SHARE = 0.05
_GARBLED_CATEGORIES = {"Co", "Cc", "Cs"}  # private use, control, lone surrogate
_REPLACEMENT = "\ufffd"  # what an unmapped glyph becomes


def is_garbled(char: str) -> bool:
    """An unmapped glyph (U+FFFD), a private-use code point or a control character."""
    return char == _REPLACEMENT or unicodedata.category(char) in _GARBLED_CATEGORIES


def garbled_counts(text: str) -> tuple[int, int]:
    """(garbled characters, characters) of ``text``, whitespace left out."""
    chars = [c for c in text if not c.isspace()]
    return sum(1 for c in chars if is_garbled(c)), len(chars)


def text_layer_problem(pages: Sequence[Page]) -> str | None:
    """Why the pages' text layer is too garbled to keep, or None; pages that are partly
    garbled get a warning on the page."""
    garbled = total = 0
    for page in pages:
        bad, n = garbled_counts("".join(line.text for line in page.lines))
        garbled, total = garbled + bad, total + n
        if n and bad / n > GARBLED_PAGE_SHARE:
            page.warnings.append(f"page {page.page_no}: {bad} of {n} characters are unmapped glyphs (U+FFFD), "
                                 "private-use or control characters")
    if total and garbled / total > GARBLED_INPUT_SHARE:
        return (f"{garbled} of {total} characters ({garbled / total:.0%}) are unmapped glyphs (U+FFFD), private-use "
                "or control characters: the fonts carry no usable Unicode mapping; run OCR first")
    return None
