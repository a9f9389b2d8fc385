"""Settings: every geometry tolerance named with its unit and reason, nested dicts resolved
strictly, and a changed tolerance reaching the stage that uses it (on real PDFs too)."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest

from pipeline.ingest import process_source
from pipeline.layout import build_blocks
from pipeline.model import Line, Page
from pipeline.settings import (
    COUNT_UNITS,
    UNITS,
    Settings,
    TableSettings,
    TextLayoutSettings,
    resolve,
)

# --- every field: a unit and a reason -----------------------------------------------------


@pytest.mark.parametrize("cls", [TextLayoutSettings, TableSettings])
def test_every_geometry_setting_has_a_unit_in_its_name_and_a_one_line_reason(cls):
    assert len(fields(cls)) >= 15
    for f in fields(cls):
        unit, why = f.metadata.get("unit"), f.metadata.get("why")
        assert unit in UNITS, f"{cls.__name__}.{f.name}: no known unit ({unit!r})"
        assert f.name.endswith("_" + unit), f"{cls.__name__}.{f.name}: the name does not end in its unit _{unit}"
        assert why and len(why.split()) >= 5 and "\n" not in why, f"{cls.__name__}.{f.name}: no one-line reason"
        if unit in COUNT_UNITS:
            assert isinstance(f.default, int), f"{cls.__name__}.{f.name}: a count that is not a whole number"


def test_settings_nest_the_two_geometry_objects_with_their_defaults():
    s = Settings()
    assert s.layout == TextLayoutSettings() and s.tables == TableSettings()
    assert (s.layout.indent_em, s.layout.margin_band_share, s.tables.column_match_pt) == (1.2, 0.10, 6.0)


# --- resolve: nested mappings, unknown keys at every level ---------------------------------


def test_resolve_takes_a_nested_mapping_and_keeps_the_other_defaults():
    s = resolve({"layout": {"indent_em": 2}, "tables": {"caption_max_chars": 40}, "max_pages": 5})
    assert s.layout.indent_em == 2 and s.tables.caption_max_chars == 40 and s.max_pages == 5
    assert s.layout == TextLayoutSettings(indent_em=2)
    assert s.tables == TableSettings(caption_max_chars=40)
    assert resolve({"layout": TextLayoutSettings(full_em=1.0)}).layout.full_em == 1.0  # an object passes as it is


@pytest.mark.parametrize(("value", "message"), [
    ({"layout": {"indnt_em": 2}}, "unknown settings: layout.indnt_em"),
    ({"tables": {"snap": 3, "caption_max_chars": 9}}, "unknown settings: tables.snap"),
    ({"layot": {"indent_em": 2}}, "unknown settings: layot"),
    # the flat fields moved into the nested objects
    ({"margin_band": 0.1}, "unknown settings: margin_band"),
    ({"repeat_min_fraction": 0.3}, "unknown settings: repeat_min_fraction"),
    ({"column_match_tolerance": 6}, "unknown settings: column_match_tolerance"),
    ({"layout": 2}, "settings layout must be a mapping or TextLayoutSettings, got int"),
    ({"tables": {"max_header_rows": 2.5}}, "TableSettings.max_header_rows must be a whole number, got 2.5"),
    ({"layout": {"crossing_share": 1.5}}, r"TextLayoutSettings.crossing_share must be a share in \[0, 1\], got 1.5"),
    ({"layout": {"indent_em": -1}}, "TextLayoutSettings.indent_em must be a length in em, at least 0, got -1"),
    ({"layout": {"full_em": math.nan}}, "TextLayoutSettings.full_em must be a length in em, at least 0, got nan"),
    ({"tables": {"snap_tolerance_pt": True}}, "TableSettings.snap_tolerance_pt must be a length in pt"),
])
def test_resolve_rejects_unknown_keys_and_bad_values_at_every_level(value, message):
    with pytest.raises(ValueError, match=message):
        resolve(value)


# --- a setting takes effect ----------------------------------------------------------------

LEFT, SIZE, PITCH = 70.0, 12.0, 20.0


def _lines(indent_pt: float) -> list[Line]:
    """Three full lines of one paragraph; the second starts ``indent_pt`` right of the margin."""
    return [Line(text, 1, (LEFT + dx, 100 + PITCH * i, 526.0, 100 + PITCH * i + SIZE), SIZE)
            for i, (text, dx) in enumerate([("甲" * 38, 0.0), ("乙" * 36, indent_pt), ("丙" * 38, 0.0)])]


def test_a_larger_indent_em_keeps_a_slightly_indented_line_in_its_paragraph():
    page = Page(1, 595.0, 842.0, _lines(1.5 * SIZE), [])  # 1.5 font sizes in: over 1.2, under 2
    assert [b.text[0] for b in build_blocks([page])] == ["甲", "乙"]  # the default: a new paragraph
    wider = resolve({"layout": {"indent_em": 2}}).layout
    assert [b.text for b in build_blocks([page], layout=wider)] == ["甲" * 38 + "乙" * 36 + "丙" * 38]


def _courier_pdf(path, rows: list[tuple[float, str]]) -> None:
    """A real one-page PDF: each (x, text) drawn in 12 pt Courier (7.2 pt a character) on a
    line of its own, 20 pt apart; a tuple of several pairs shares one baseline."""
    from reportlab.pdfgen.canvas import Canvas

    canv = Canvas(str(path), pagesize=(595, 842))
    canv.setFont("Courier", SIZE)
    for i, row in enumerate(rows):
        for x, text in row:
            canv.drawString(x, 760 - PITCH * i, text)
    canv.showPage()
    canv.save()


def test_process_source_passes_nested_layout_settings_to_the_layout_stage(tmp_path):
    """Eight lines of 60 characters at the margin and one indented 1.5 font sizes (18 pt):
    a paragraph break by default, none with ``indent_em`` 2, through the whole pipeline."""
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do"[:60]
    rows = [((LEFT + (18 if i == 4 else 0), words[: 57 if i == 4 else 60]),) for i in range(9)]
    pdf = tmp_path / "indent.pdf"
    _courier_pdf(pdf, rows)

    def body(settings) -> str:
        [doc] = process_source(pdf, "indent.pdf", settings).documents
        return "\n".join(s.text for s in doc.sections)

    assert body(None).count("\n") == 1  # two paragraphs: four lines, then five
    assert body({"layout": {"indent_em": 2}}).count("\n") == 0
    assert body({"layout": {"indent_em": 2}}).replace(" ", "") == body(None).replace(" ", "").replace("\n", "")


@pytest.mark.parametrize("backend", ["pdfium", "pdfplumber"])
def test_both_pdf_readers_take_layout_and_table_settings(tmp_path, backend):
    """Two words 82 pt apart on one baseline are two segments (more than segment_gap_em 2.5
    font sizes), one line with a wider segment_gap_em; a ruled grid of 3 columns is a table
    unless min_table_columns asks for 4. Both backends read alike either way."""
    from reportlab.pdfgen.canvas import Canvas

    from pipeline.extract.pdf import open_pdf

    pdf = tmp_path / "gap-and-grid.pdf"
    canv = Canvas(str(pdf), pagesize=(595, 842))
    canv.setFont("Courier", SIZE)
    canv.drawString(70, 760, "Issuer")  # 6 characters: ends at 113.2
    canv.drawString(195.2, 760, "Number")  # 82 pt = 6.8 font sizes further on
    cols, top = [70, 170, 270, 370], 700
    for r in range(3):
        canv.line(cols[0], top - 24 * r, cols[-1], top - 24 * r)
    for x in cols:
        canv.line(x, top, x, top - 48)
    for r, row in enumerate([["a", "b", "c"], ["1", "2", "3"]]):
        for c, cell in enumerate(row):
            canv.drawString(cols[c] + 6, top - 24 * (r + 1) + 7, cell)
    canv.showPage()
    canv.save()

    def read(settings: Settings | None) -> tuple[list[str], list[list[list[str]]]]:
        with open_pdf(pdf, backend, settings) as reader:
            [page] = list(reader.pages())
        return [ln.text for ln in page.lines if ln.top < 100], [[list(r) for r in t.rows] for t in page.tables]

    assert read(None) == (["Issuer", "Number"], [[["a", "b", "c"], ["1", "2", "3"]]])
    assert read(resolve({"layout": {"segment_gap_em": 10}, "tables": {"min_table_columns": 4}})) == (
        ["Issuer Number"], [])
