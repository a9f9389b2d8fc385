"""Character spacing as the PDF specification defines it, for pdfminer (pdfplumber's parser).

PDF 32000 §9.4.4: every glyph a text-showing operator paints advances the text position by
its width plus the character spacing ``Tc`` (plus ``Tw`` for a single-byte code 32). pdfminer
adds ``Tc`` only *between* the glyphs of one string (and before the first glyph after a TJ
number), so each string of a line set with ``Tc`` ends ``Tc`` short and every later string on
the line is drawn that much too far left. A justified CJK line shown as several strings (a
font switch, an embedded subset font, a WPS or reportlab export) then ends well short of the
margin, and layout takes it for a paragraph's last line. PDFium applies the rule as written.
Upstream: https://github.com/pdfminer/pdfminer.six/issues/1128 (open at pdfminer.six 20260107).

``apply()`` replaces the two string renderers of ``PDFTextDevice`` with ones that follow the
specification; ``tests/test_backends.py`` checks that pdfminer still needs it.
"""

from __future__ import annotations

from pdfminer import utils
from pdfminer.pdfdevice import PDFTextDevice

_ORIGINAL = (PDFTextDevice.render_string_horizontal, PDFTextDevice.render_string_vertical)


def _render_string(self, seq, matrix, pos, font, fontsize, scaling, charspace, wordspace, rise,
                   dxscale, ncs, graphicstate, *, vertical: bool):
    x, y = pos
    for obj in seq:
        if isinstance(obj, (int, float)):  # a TJ adjustment moves the position, paints nothing
            if vertical:
                y -= obj * dxscale
            else:
                x -= obj * dxscale
            continue
        if not isinstance(obj, bytes):
            continue  # pdfminer logs and skips such operands too
        for cid in font.decode(obj):
            advance = self.render_char(utils.translate_matrix(matrix, (x, y)), font, fontsize, scaling,
                                       rise, cid, ncs, graphicstate)
            advance += charspace + (wordspace if cid == 32 else 0.0)
            if vertical:
                y += advance
            else:
                x += advance
    return x, y


def _horizontal(self, seq, matrix, pos, font, fontsize, scaling, charspace, wordspace, rise, dxscale,
                ncs, graphicstate):
    return _render_string(self, seq, matrix, pos, font, fontsize, scaling, charspace, wordspace, rise,
                          dxscale, ncs, graphicstate, vertical=False)


def _vertical(self, seq, matrix, pos, font, fontsize, scaling, charspace, wordspace, rise, dxscale,
              ncs, graphicstate):
    return _render_string(self, seq, matrix, pos, font, fontsize, scaling, charspace, wordspace, rise,
                          dxscale, ncs, graphicstate, vertical=True)


def apply() -> None:
    """Make pdfminer place glyphs with the specification's character spacing (idempotent)."""
    PDFTextDevice.render_string_horizontal = _horizontal
    PDFTextDevice.render_string_vertical = _vertical


def original_renderers():
    """pdfminer's own renderers, for the test that checks it still needs this module."""
    return _ORIGINAL
