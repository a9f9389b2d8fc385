"""The seed issue rendered by a second producer, fpdf2 (``tests/fixtures/fpdf2_render.py``):
its own line breaking (per character, justified by character spacing, a page ending where
it is full), an embedded TrueType subset written as glyph ids, tables drawn cell by cell
with padding, and page furniture at its own heights (``第 N 页 共 M 页``). Through the
whole path it reads as the reportlab builder's render does (``tests/test_two_columns.py``)."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import pytest

from pipeline.process import process_pdf
from pipeline.rows import result_tables
from pipeline.settings import Settings
from tests import seed_issue
from tests.fixtures.build_gazette import parse_text
from tests.fixtures.fpdf2_render import body_blocks, render
from tests.seed_issue import norm


@pytest.fixture(scope="module")
def fpdf2_pdf(seed_text, tmp_path_factory):
    path = tmp_path_factory.mktemp("fpdf2") / "gz-2021-29-fpdf2.pdf"
    path.write_bytes(render(seed_text))
    return path


@pytest.fixture(scope="module")
def fpdf2(fpdf2_pdf, tmp_path_factory):
    return seed_issue.ingest_rows(fpdf2_pdf, tmp_path_factory.mktemp("fpdf2-out") / "out")


def test_the_render_is_deterministic(seed_text, fpdf2_pdf):
    assert render(seed_text) == fpdf2_pdf.read_bytes()


def test_two_documents_with_their_numbers(fpdf2):
    assert [d["doc_number"] for d in fpdf2["documents"]] == ["穗府办〔2021〕9号", "穗林业园林规字〔2021〕2号"]
    first, second = fpdf2["documents"]
    assert first["title"] == "广州市人民政府办公厅关于印发广州市金融发展“十四五”规划的通知"
    assert first["issuer"] == "广州市人民政府办公厅" and str(first["signed_date"]) == "2021-09-17"
    assert first["page_start"] == 3 and second["page_start"] > first["page_end"]


def test_chapters_and_sections_follow_the_body(fpdf2, seed_text):
    seed_issue.assert_chapters_and_sections_follow_the_body(fpdf2, seed_text)


def test_the_toc_with_its_page_numbers_is_checked(fpdf2):
    """79 entries, each with the printed page its heading landed on (second pass): only the
    seed's own drift (支持/支撑) differs, and no page is off."""
    seed_issue.assert_toc_checked(fpdf2)


def test_every_paragraph_reads_once_and_whole(fpdf2, seed_text):
    """Every body paragraph of the seed, however the render's page ends and character-wise
    line breaks cut it (a number split over two lines, a line holding only its full stop),
    stands exactly once in the sections' text."""
    blocks, _ = parse_text(seed_text)
    text = norm(seed_issue.section_text(fpdf2))
    paragraphs = [norm(b.text) for b in body_blocks(blocks) if b.kind == "para" and b.doc >= 0]
    printed = "".join(paragraphs)  # a map's caption stands twice
    assert len(paragraphs) == 525
    assert [p for p in paragraphs if text.count(p) != printed.count(p)] == []


@pytest.mark.parametrize("phrase", seed_issue.CUT_SENTENCES)
def test_sentences_the_seed_cut_are_whole(fpdf2, phrase):
    seed_issue.assert_sentence_whole(fpdf2, phrase)


def test_no_furniture_left_in_the_text(fpdf2):
    text = seed_issue.section_text(fpdf2)
    assert "本文与正式文件" not in text and "广州市人民政府公报 2021年第29期" not in text
    assert not re.search(r"第 ?\d+ ?页", text)
    reasons = Counter(r["reason"] for r in fpdf2["removed"])
    body_pages = 82  # from the first page of document 1 to the page before the colophon
    assert reasons["watermark"] == reasons["page_number"] == body_pages
    assert reasons["running_header"] == 84  # every page but the cover


def test_the_annex_table_across_pages_is_one_table(fpdf2):
    annex = seed_issue.annex_table(fpdf2)
    assert (annex["page_start"], annex["page_end"]) == (76, 78)


def test_the_boxes_are_ruled_tables_with_captions(fpdf2):
    seed_issue.assert_boxes_are_ruled_tables_with_captions(fpdf2)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The bundled sample: the same issue as the reportlab builder sets it."""
    from tests.conftest import SAMPLE_PDF

    return seed_issue.ingest_rows(SAMPLE_PDF, tmp_path_factory.mktemp("sample") / "out")


def _tables(rows):
    """Every table of the issue: caption, header, rows and cells (text without spaces: the
    fonts space Latin text apart differently)."""
    cells: dict[tuple, list] = {}
    for c in rows["table_cells"]:
        cells.setdefault((c["doc_id"], c["table_id"]), []).append((c["row"], c["col"], norm(c["value"])))
    return [(t["kind"], t["caption"], [norm(h) for h in t["header"]], t["n_rows"],
             sorted(cells[t["doc_id"], t["table_id"]])) for t in rows["tables"]]


def test_the_tables_read_as_in_the_sample(fpdf2, sample):
    """专栏 1 and 2 and the annex over three pages. (Not yet the colophon: its longest key,
    编辑出版：广州市人民政府公报编辑部, leaves less than a segment gap before its value, so
    its first three rows are read as text.)"""
    assert _tables(fpdf2)[:3] == _tables(sample)[:3]


def test_the_sections_read_as_in_the_sample(fpdf2, sample):
    """Heading, level, number and text of every section of both documents: the same as the builder's render (text without spaces), though every page and
    most lines end elsewhere."""
    def sections(rows):
        return [(s["level"], s["number"], norm(s["heading"]), norm(s["text"])) for s in rows["sections"]]

    assert len(fpdf2["sections"]) == 363
    assert sections(fpdf2)[:-1] == sections(sample)[:-1]  # not the back matter: the colophon, above


def test_both_backends_give_the_same_rows(fpdf2_pdf):
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def rows(backend: str) -> dict[str, list]:
        result = process_pdf(fpdf2_pdf, source=str(fpdf2_pdf), raw_sha256="0" * 64,
                             settings=Settings(backend=backend))
        return {name: table.to_pylist() for name, table in result_tables(result, now).items()}

    assert rows("auto") == rows("pdfplumber")
