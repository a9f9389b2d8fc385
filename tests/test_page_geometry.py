"""Pages as real files have them: landscape table pages made with /Rotate 90 or 270 or with a
landscape MediaBox, MediaBoxes whose origin is not (0, 0), a CropBox inside the MediaBox with
a printer's slug outside it, a page turned by 180° (``tests/fixtures/geometry.py``). Through
``gazette ingest`` on both backends, the document reads as a viewer shows it."""

from __future__ import annotations

import pdfplumber
import pypdfium2 as pdfium
import pytest

from gazette.cli import main
from pipeline.extract.pdf import Frame, open_pdf, page_frame
from pipeline.storage import Store
from tests.fixtures.geometry import ARTICLES, CROP, OUTSIDE_CROP, PAGE_KINDS, build_geometry_pdf
from tests.pdfium_fonts import CJK_FONTS, NO_FONTS, default_path_rows, rows_as_json
from tests.test_backends import without_fallback_notes

DATASETS = ("documents", "sections", "tables", "table_cells", "removed")
FONTS = ("embedded", "cid")  # the subset TrueType font embedded; STSong-Light by name


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory) -> dict[str, tuple]:
    folder = tmp_path_factory.mktemp("geometry")
    out = {}
    for font in FONTS:
        path = folder / f"geometry-{font}.pdf"
        out[font] = (path, build_geometry_pdf(path, font=font))
    return out


@pytest.fixture(scope="module")
def ingested(pdfs, tmp_path_factory) -> dict[tuple[str, str], dict[str, list]]:
    """Rows read back from the output of ``gazette ingest``, per (font, backend)."""
    got = {}
    for font, (path, _) in pdfs.items():
        for backend in ("auto", "pdfplumber"):
            out = tmp_path_factory.mktemp(f"out-{font}-{backend}") / "out"
            assert main(["ingest", str(path), "--out", str(out), "--raw", "", "-q", "--backend", backend]) == 0
            store = Store(out)
            got[font, backend] = {name: store.read(name).to_pylist() for name in DATASETS}
    return got


CASES = [(font, backend) for font in FONTS for backend in ("auto", "pdfplumber")]


def test_the_pages_display_as_drawn(pdfs):
    """The fixture itself: each page shows at the size its kind says, and upright (the text sits
    in the upper part of every page; a page shown turned or upside down puts it elsewhere)."""
    path, _ = pdfs["embedded"]
    sizes = {"rotate90": (842, 595), "rotate270": (842, 595), "landscape": (842, 595),
             "cropped": (CROP[2] - CROP[0], CROP[3] - CROP[1])}
    doc = pdfium.PdfDocument(path)
    try:
        for index, kind in enumerate(PAGE_KINDS):
            page = doc[index]
            image = page.render(scale=1).to_pil().convert("L")
            assert image.size == sizes.get(kind, (595, 842)), kind
            half = image.height // 2
            upper, lower = (_ink(image.crop((0, top, image.width, top + half))) for top in (0, half))
            assert upper > 3 * lower, kind
            page.close()
    finally:
        doc.close()


def _ink(image) -> int:
    """Dark pixels of a greyscale image."""
    return image.point(lambda v: 255 if v < 128 else 0).histogram()[255]


def test_each_backend_sees_the_text_outside_the_cropbox(pdfs):
    """What the rule in pipeline/extract/pdf.py ('page geometry') is for: pdfplumber reads the
    slug and the stamp outside the CropBox, and PDFium's text page all but their spaces."""
    path, _ = pdfs["embedded"]
    page_no = PAGE_KINDS.index("cropped")
    with pdfplumber.open(path) as pdf:
        plumber = "".join(c["text"] for c in pdf.pages[page_no].chars)
    doc = pdfium.PdfDocument(path)
    try:
        page = doc[page_no]
        textpage = page.get_textpage()
        text = textpage.get_text_range()
        textpage.close()
        page.close()
    finally:
        doc.close()
    for slug in OUTSIDE_CROP:
        assert slug.replace(" ", "") in plumber.replace(" ", "")
        assert slug.replace(" ", "") in text.replace(" ", "").replace("\r\n", "")


def _expected_sections(drawn) -> list[tuple]:
    tables = "".join(f"\n{caption}\n[表 {k}]" for k, (caption, _, _) in enumerate(drawn.tables, start=1))
    chapters = iter(drawn.headings)
    rows = [("front", None, "", drawn.title)]
    for n, (number, text) in enumerate(ARTICLES.items(), start=1):
        if n in (1, 5, 9, 10):  # the chapters open before these articles
            rows.append(("chapter", len([r for r in rows if r[0] == "chapter"]) + 1, next(chapters), ""))
        rows.append(("article", n, number, text + (tables if number == "第三条" else "")))
    return rows


@pytest.mark.parametrize(("font", "backend"), CASES)
def test_text_reads_in_order_with_its_headings(ingested, pdfs, font, backend):
    rows = ingested[font, backend]
    drawn = pdfs[font][1]
    [doc] = rows["documents"]
    assert (doc["title"], doc["page_start"], doc["page_end"], doc["n_chapters"]) == (drawn.title, 1, 8, 4)
    got = [(s["level"], s["number"], s["heading"], s["text"]) for s in rows["sections"]]
    assert got == _expected_sections(drawn)
    pages = {s["heading"]: (s["page_start"], s["page_end"]) for s in rows["sections"]}
    # 第六条 runs from the page whose MediaBox lies below y = 0 onto the one shifted to (20, 20)
    assert pages["第六条"] == (5, 6) and pages["第十条"] == (8, 8) and pages["第三章 公开"] == (7, 7)


@pytest.mark.parametrize(("font", "backend"), CASES)
def test_landscape_tables_read_as_drawn(ingested, pdfs, font, backend):
    rows = ingested[font, backend]
    drawn = pdfs[font][1]
    tables = rows["tables"]
    assert [(t["caption"], t["header"], t["page_start"], t["page_end"], t["n_rows"]) for t in tables] == [
        (caption, header, page, page, len(body))
        for (caption, header, body), page in zip(drawn.tables, drawn.table_pages, strict=True)]
    for table, (_, header, body) in zip(tables, drawn.tables, strict=True):
        cells = [c for c in rows["table_cells"] if c["table_id"] == table["table_id"]]
        grid = [[None] * len(header) for _ in body]
        for c in cells:
            grid[c["row"]][c["col"]] = c["value"]
            assert c["column_name"] == header[c["col"]]
        assert grid == body


@pytest.mark.parametrize(("font", "backend"), CASES)
def test_furniture_is_removed_and_recorded_on_every_page(ingested, pdfs, font, backend):
    rows = ingested[font, backend]
    drawn = pdfs[font][1]
    removed = sorted((r["page"], r["reason"], r["text"]) for r in rows["removed"])
    assert removed == sorted((n, reason, text) for n in range(1, len(PAGE_KINDS) + 1) for reason, text in (
        ("running_header", drawn.header), ("watermark", drawn.watermark), ("page_number", f"— {n} —")))
    assert rows["documents"][0]["printed_page_start"] == 1
    text = "\n".join(s["heading"] + "\n" + s["text"] for s in rows["sections"])
    assert drawn.header not in text and "效力" not in text and "—" not in text


@pytest.mark.parametrize(("font", "backend"), CASES)
def test_text_outside_the_cropbox_is_not_read(ingested, font, backend):
    """A viewer does not show it: it is neither text nor a removed line; the document says, for
    the cropped page only, that text outside its CropBox was not read."""
    rows = ingested[font, backend]
    everything = repr(rows)
    for slug in OUTSIDE_CROP:
        for part in slug.split():
            assert part not in everything
    from pipeline.extract.pdf import HIDDEN_TEXT_WARNING

    [doc] = rows["documents"]
    notes = [w for w in doc["warnings"] if HIDDEN_TEXT_WARNING in w]
    cropped = [n for n, kind in enumerate(PAGE_KINDS, start=1) if "crop" in kind]
    assert notes == [f"page {n}: {HIDDEN_TEXT_WARNING}" for n in cropped]


@pytest.mark.parametrize("font", FONTS)
def test_both_backends_give_the_same_rows(ingested, font):
    def timeless(rows: dict[str, list]) -> dict[str, list]:
        return rows | {"documents": [{k: v for k, v in d.items() if k != "processed_at"} for d in rows["documents"]]}

    assert timeless(ingested[font, "auto"]) == timeless(ingested[font, "pdfplumber"])


@pytest.mark.parametrize("fonts", [NO_FONTS, CJK_FONTS], ids=["no-system-font", "cjk-system-font"])
def test_the_default_path_matches_pdfplumber_whatever_fonts_the_machine_has(pdfs, fonts):
    """STSong-Light by name: without a CJK font PDFium's text page leaves objects out, and those
    pages go through pdfplumber; with one, the fast path reads them. Rows are the same."""
    path, _ = pdfs["cid"]
    assert without_fallback_notes(default_path_rows(path, fonts)) == rows_as_json(path, "pdfplumber")


def test_the_fast_path_reads_every_page_itself(pdfs):
    """Turned, shifted and cropped pages need no pdfplumber: PDFium's objects are turned as
    displayed (one call per object) and its coordinates moved once per page."""
    path, _ = pdfs["embedded"]
    with open_pdf(path, "auto") as reader:
        pages = list(reader.pages())
        assert reader._plumber is None  # pdfplumber was never opened
    assert [(p.width, p.height) for p in pages] == [
        (842, 595) if kind in ("rotate90", "rotate270", "landscape") else
        (CROP[2] - CROP[0], CROP[3] - CROP[1]) if kind == "cropped" else (595, 842) for kind in PAGE_KINDS]


# a CropBox on the turned pages that keeps what they show but is not centred, so that each turn
# moves the text differently: (x0, y0, x1, y1) in user space
TURNED_CROP = (30, 12, 590, 835)


def test_a_cropped_turned_page_shows_its_text_where_the_viewer_does(pdfs, tmp_path):
    path, _ = pdfs["embedded"]
    cropped = tmp_path / "turned-crop.pdf"
    build_geometry_pdf(cropped, turned_crop=TURNED_CROP)
    lines = {}
    for name, pdf in (("whole", path), ("cropped", cropped)):
        for backend in ("auto", "pdfplumber"):
            with open_pdf(pdf, backend) as reader:
                lines[name, backend] = {p.page_no: [(ln.text, ln.bbox[0], ln.bbox[1]) for ln in p.lines]
                                        for p in reader.pages()}
    assert lines["cropped", "auto"] == lines["cropped", "pdfplumber"]
    # the CropBox's edges on the displayed page: /Rotate 90 shows user y as x and user x as top
    shift = {"rotate90": (12, 30), "rotate270": (842 - 835, 595 - 590), "rotate180": (595 - 590, 12)}
    for kind, (dx, dtop) in shift.items():
        page_no = PAGE_KINDS.index(kind) + 1
        moved = [(t, round(x - dx, 1), round(top - dtop, 1)) for t, x, top in lines["whole", "auto"][page_no]]
        assert [(t, round(x, 1), round(top, 1)) for t, x, top in lines["cropped", "auto"][page_no]] == moved


A4_MEDIA = (0, 0, 595, 842)


@pytest.mark.parametrize(("rotation", "frame"), [
    (0, Frame(10, 42, 490, 780, True)),
    (90, Frame(20, 10, 780, 490, True)),  # turned clockwise: the unturned left edge is the top
    (180, Frame(95, 20, 490, 780, True)),
    (270, Frame(42, 95, 780, 490, True)),
])
def test_the_displayed_page_is_the_cropbox_turned(rotation, frame):
    assert page_frame(A4_MEDIA, (10, 20, 500, 800), rotation) == frame


@pytest.mark.parametrize(("media", "crop", "frame"), [
    ((0, -842, 595, 0), None, Frame(0, 0, 595, 842, False)),
    ((20, 20, 615, 862), (20, 20, 615, 862), Frame(0, 0, 595, 842, False)),
    ((595, 842, 0, 0), None, Frame(0, 0, 595, 842, False)),  # any two opposite corners
    (A4_MEDIA, (-50, -50, 700, 900), Frame(0, 0, 595, 842, False)),  # a CropBox is clipped to the MediaBox
    (A4_MEDIA, (600, 900, 700, 1000), Frame(0, 0, 595, 842, False)),  # one off the page is ignored
])
def test_boxes_not_at_the_origin(media, crop, frame):
    assert page_frame(media, crop, 0) == frame
