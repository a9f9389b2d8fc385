"""The fast path (pypdfium2 text + pdfplumber for table pages), the pdfplumber-only path
and the parallel page reader must produce the same rows on every sample and corpus PDF,
whatever fonts the machine has."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.extract.pdf import FONT_FALLBACK_WARNING
from pipeline.process import process_pdf
from pipeline.rows import result_tables
from pipeline.settings import Settings
from tests.conftest import CORPUS, SAMPLE_PDF
from tests.pdfium_fonts import CJK_FONTS, NO_FONTS, default_path_rows, rows_as_json

PDFS = [SAMPLE_PDF, *sorted((CORPUS / "pdf").glob("*.pdf"))]
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
EMBEDDED = "the sample issue in an embedded TrueType font"


def rows(path, **settings) -> dict[str, list]:
    result = process_pdf(path, source=str(path), raw_sha256="0" * 64, settings=Settings(**settings))
    return {name: table.to_pylist() for name, table in result_tables(result, NOW).items()}


def without_fallback_notes(got: dict[str, list]) -> dict[str, list]:
    """The rows without the warnings that say a page was read through pdfplumber (the only
    thing the default path may add: which pages needed it depends on the machine's fonts)."""
    documents = [{**d, "warnings": [w for w in d["warnings"] if FONT_FALLBACK_WARNING not in w]}
                 for d in got["documents"]]
    return {**got, "documents": documents}


@pytest.fixture(scope="session")
def embedded_font_sample(pdf_factory, seed_text):
    """The seed issue set in a CJK TrueType font embedded in the file (as Word and WPS
    exports carry theirs), beside the bundled sample whose STSong-Light is not embedded."""
    return pdf_factory(seed_text, "gz-2021-29-embedded-font.pdf", font="embedded")


@pytest.fixture(params=[*PDFS, EMBEDDED], ids=lambda p: getattr(p, "name", "embedded-font"))
def backend_pdf(request, embedded_font_sample):
    return embedded_font_sample if request.param == EMBEDDED else request.param


def test_fast_path_matches_pdfplumber(backend_pdf):
    assert without_fallback_notes(rows(backend_pdf, backend="auto")) == rows(backend_pdf, backend="pdfplumber")


@pytest.mark.parametrize("fonts", [NO_FONTS, CJK_FONTS], ids=["no-system-font", "cjk-system-font"])
@pytest.mark.parametrize("which", ["bundled", EMBEDDED], ids=["cid-font-not-embedded", "font-embedded"])
def test_default_path_matches_pdfplumber_whatever_fonts_the_machine_has(which, fonts, embedded_font_sample):
    pdf = SAMPLE_PDF if which == "bundled" else embedded_font_sample
    got = default_path_rows(pdf, fonts)  # PDFium restarted on that font folder, in a child
    assert without_fallback_notes(got) == rows_as_json(pdf, "pdfplumber")


def test_a_page_pdfium_reads_short_without_the_font_goes_through_pdfplumber():
    """On p.73-74 of the sample a lone 心 wrapped onto its own line in a table cell is its own
    text object; without a CJK font PDFium's text page leaves it out."""
    bare = default_path_rows(SAMPLE_PDF, NO_FONTS)
    [notes] = [d["warnings"] for d in bare["documents"] if d["warnings"]]
    assert notes == [f"page {n}: {FONT_FALLBACK_WARNING} (fonts: STSong-Light (not embedded))" for n in (73, 74)]
    cells = [c["value"] for c in bare["table_cells"] if c["table_id"] == "t3" and c["column_name"] == "责任单位"]
    assert cells.count("市地方金融监管局、广州金融发展服务中心") == 2  # data rows 1 and 3, as printed
    with_font = default_path_rows(SAMPLE_PDF, CJK_FONTS)
    assert all(d["warnings"] == [] for d in with_font["documents"])  # the fast path keeps those pages


def test_parallel_pages_match_serial():
    assert rows(SAMPLE_PDF, workers=2) == rows(SAMPLE_PDF, workers=1)


def test_threads_parsing_at_once_match_serial():
    """Prefect's thread task runner parses documents concurrently; PDFium is not thread-safe."""
    from concurrent.futures import ThreadPoolExecutor

    paths = PDFS * 2
    serial = [rows(p) for p in paths]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(rows, paths)) == serial


@pytest.mark.parametrize("stamp", ["本文与正式文件同等效力", "仅供参考"])
def test_text_drawn_across_the_page_at_an_angle_is_kept_out_of_the_body(pdf_factory, stamp):
    """A diagonal watermark or stamp crosses body rows; its characters must not land in them."""
    from tests.conftest import small_issue

    text = small_issue(3, chapters=3)
    pdf = pdf_factory(text, f"diagonal-{stamp}.pdf", diagonal_watermark=stamp)
    plain = rows(pdf_factory(text, "diagonal-none.pdf"), backend="auto")
    for backend in ("auto", "pdfplumber"):
        got = rows(pdf, backend=backend)
        assert got["sections"] == plain["sections"]  # the body is as if the stamp were not there
        turned = [r for r in got["removed"] if r["text"] == stamp]
        assert len(turned) >= 1 and {r["reason"] for r in turned} == {"watermark" if "效力" in stamp else "rotated_text"}
    assert rows(pdf, backend="auto") == rows(pdf, backend="pdfplumber")


def _landscape_pdf(path) -> None:
    """A portrait page carrying /Rotate 90 whose content is drawn turned, so that it displays as
    an upright landscape page (how many PDFs hold a landscape table page)."""
    from reportlab.pdfgen.canvas import Canvas

    from tests.fixtures.build_gazette import draw_text

    # reportlab writes a page turned by 90° with its MediaBox as [0 0 height width]: a landscape
    # size gives the portrait MediaBox [0 0 595 842] the viewer turns
    canv = Canvas(str(path), pagesize=(842, 595))
    canv.setPageRotation(90)
    canv.translate(595, 0)
    canv.rotate(90)  # from here on: an upright 842 x 595 landscape page
    lines = ["第一章 总则", "第一条 为了规范横版表格页面的读取，制定本办法。", "第二条 本办法适用于全市。", "附件：统计表"]
    for i, text in enumerate(lines):
        draw_text(canv, 72, 520 - 24 * i, text, 12)
    rows = [["序号", "项目", "金额"], ["1", "甲项目", "100"], ["2", "乙项目", "200"]]
    top, height, cols = 400, 24, [72, 160, 460, 700]
    for r in range(len(rows) + 1):
        canv.line(cols[0], top - r * height, cols[-1], top - r * height)
    for x in cols:
        canv.line(x, top, x, top - len(rows) * height)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            draw_text(canv, cols[c] + 6, top - (r + 1) * height + 7, cell, 11)
    canv.showPage()
    canv.save()


def test_a_landscape_page_with_rotate_reads_upright_on_both_backends(tmp_path):
    pdf = tmp_path / "landscape.pdf"
    _landscape_pdf(pdf)
    got = rows(pdf, backend="auto")
    assert got == rows(pdf, backend="pdfplumber")
    assert [(s["level"], s["number"]) for s in got["sections"] if s["level"] != "front"] == [
        ("chapter", 1), ("article", 1), ("article", 2)]
    assert "为了规范横版表格页面的读取，制定本办法。" in {s["text"] for s in got["sections"]}
    [table] = got["tables"]
    assert table["header"] == ["序号", "项目", "金额"] and table["n_rows"] == 2


def _two_column_pdf(path) -> list[str]:
    """A page set in two columns under a title across both (how the State Council Gazette
    prints); paragraphs open with an indent and run on from the left column to the right."""
    from reportlab.pdfgen.canvas import Canvas

    from tests.fixtures.build_gazette import break_lines, draw_text, text_width

    canv = Canvas(str(path), pagesize=(595, 842))
    title = "某省人民政府关于加强两栏排版公报读取工作的通知"
    draw_text(canv, (595 - text_width(title, 16)) / 2, 780, title, 16)
    size, lead, col_w, gap, left = 10.5, 15.0, 230, 25, 55
    paras = ["第一条 " + "为了规范两栏排版公报的读取，保证文字顺序正确，制定本办法。" * 3,
             "第二条 " + "本办法适用于本省各级人民政府公报的数字化处理工作，其他文件参照执行。" * 4,
             "第三条 " + "左栏的文字读完以后，再读右栏的文字，不得交错混排。" * 5,
             "第四条 " + "本办法自公布之日起施行，由省人民政府办公厅负责解释。" * 4]
    lines = [(ln, i == 0) for p in paras for i, ln in enumerate(break_lines(p, size, col_w - 2 * size, col_w))]
    half = (len(lines) + 1) // 2
    for c, column in enumerate([lines[:half], lines[half:]]):
        for r, (ln, first) in enumerate(column):
            draw_text(canv, left + c * (col_w + gap) + (2 * size if first else 0), 740 - r * lead, ln, size)
    canv.showPage()
    canv.save()
    return paras


def test_a_page_in_two_columns_reads_left_column_then_right(tmp_path):
    pdf = tmp_path / "two-columns.pdf"
    paras = _two_column_pdf(pdf)
    got = rows(pdf, backend="auto")
    assert got == rows(pdf, backend="pdfplumber")
    articles = [s for s in got["sections"] if s["level"] == "article"]
    assert [s["text"] for s in articles] == [p.split(" ", 1)[1] for p in paras]  # whole, in order, unmixed
    assert got["tables"] == []  # rows of two column lines are prose, not a borderless table


def _char_spacing_pdf(path) -> None:
    """One line shown as two strings under character spacing (Tc 3): how a justified line
    comes out when a producer switches font or subset mid-line."""
    from reportlab.pdfgen.canvas import Canvas

    canv = Canvas(str(path), pagesize=(595, 842))
    text = canv.beginText(72, 700)
    text.setFont("Helvetica", 12)
    text.setCharSpace(3)
    text.textOut("AB")
    text.textOut("CD")
    canv.drawText(text)
    canv.showPage()
    canv.save()


def _plumber_x0(path) -> dict[str, float]:
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return {c["text"]: round(c["x0"], 2) for c in pdf.pages[0].chars}


def test_character_spacing_follows_the_pdf_specification_on_both_backends(tmp_path):
    """PDF 32000 §9.4.4: Tc follows every glyph, the last of a string too, so C sits one glyph
    width plus 3 pt after B (pdfminer left Tc out at string ends: pdfminer.six issue 1128)."""
    import pypdfium2 as pdfium

    from pipeline.extract.pdf import _pdfium_chars

    pdf = tmp_path / "tc.pdf"
    _char_spacing_pdf(pdf)
    from reportlab.pdfbase.pdfmetrics import stringWidth

    b_to_c = stringWidth("B", "Helvetica", 12) + 3
    plumber = _plumber_x0(pdf)
    assert plumber["C"] == pytest.approx(plumber["B"] + b_to_c, abs=0.01)
    page = pdfium.PdfDocument(pdf)[0]
    fast = {c.text: c.x0 for c in _pdfium_chars(page, page.get_size()[1])}
    assert fast["C"] == pytest.approx(plumber["C"], abs=0.05)


def test_pdfminer_still_needs_the_character_spacing_fix(tmp_path):
    """When pdfminer places C itself as the specification says, this fails: then drop
    pipeline/extract/pdfminer_spacing.py."""
    from pdfminer.pdfdevice import PDFTextDevice

    from pipeline.extract import pdfminer_spacing

    pdf = tmp_path / "tc.pdf"
    _char_spacing_pdf(pdf)
    fixed = _plumber_x0(pdf)
    PDFTextDevice.render_string_horizontal, PDFTextDevice.render_string_vertical = (
        pdfminer_spacing.original_renderers())
    try:
        own = _plumber_x0(pdf)
    finally:
        pdfminer_spacing.apply()
    assert own["C"] == pytest.approx(fixed["C"] - 3, abs=0.01)  # pdfminer's own: Tc short at the string end
