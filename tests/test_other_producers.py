"""The seed issue typeset by another producer, Typst (``tests/fixtures/typst_render.py``),
through the whole path: the acceptance of the builder's render holds.

Typst writes what the builder does not: every run its own text object (a space between two
runs is an object of its own, in the Latin font, that paints nothing), a quarter em of
CJK-Latin spacing as a gap instead of a space, punctuation compression, justified lines,
headings as PDF bookmarks, tagged content (header, footer and leaders as artifacts), 目录
lines filled with dot leaders up to a page number it computed, the header row of a table
repeated on every page by ``table.header``, rules as stroked line segments, and footers at
its own heights. What each test expects was checked on the rendered pages (PNG).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests import seed_issue
from tests.fixtures.typst_render import render_pdf
from tests.seed_issue import DATASETS, ingest_rows, norm


@pytest.fixture(scope="module")
def typst_pdf(seed_text, tmp_path_factory):
    pdf = tmp_path_factory.mktemp("typst") / "gz-2021-29-typst.pdf"
    pdf.write_bytes(render_pdf(seed_text))
    return pdf


@pytest.fixture(scope="module")
def typst_rows(typst_pdf, tmp_path_factory):
    return ingest_rows(typst_pdf, tmp_path_factory.mktemp("typst-out") / "out")


def test_the_render_is_deterministic(seed_text, typst_pdf):
    assert render_pdf(seed_text) == typst_pdf.read_bytes()


def test_two_documents_with_their_numbers(typst_rows):
    docs = typst_rows["documents"]
    assert [d["doc_number"] for d in docs] == ["穗府办〔2021〕9号", "穗林业园林规字〔2021〕2号"]
    assert docs[0]["title"] == "广州市人民政府办公厅关于印发广州市金融发展“十四五”规划的通知"
    assert docs[0]["issuer"] == "广州市人民政府办公厅" and str(docs[0]["signed_date"]) == "2021-09-17"
    assert str(docs[1]["signed_date"]) == "2021-09-15"
    # the render: 81 pages, the cover and the issue 目录, then document 1 from page 3 (printed
    # 1) to the annex on page 74, document 2 from page 75 (printed 73, as the 目录 says)
    assert [(d["page_start"], d["page_end"]) for d in docs] == [(3, 74), (75, 81)]


def test_chapters_and_sections_follow_the_body(typst_rows, seed_text):
    seed_issue.assert_chapters_and_sections_follow_the_body(typst_rows, seed_text)


def test_the_toc_with_typst_page_numbers_is_checked(typst_rows):
    """Typst's 目录 lines run dot leaders to the page number of the heading's label; the
    entries are checked as a 目录 without numbers is (the seed's own 支持/支撑 drift only)."""
    seed_issue.assert_toc_checked(typst_rows)


@pytest.mark.parametrize("phrase", seed_issue.CUT_SENTENCES)
def test_sentences_cut_by_pages_are_rejoined(typst_rows, phrase):
    seed_issue.assert_sentence_whole(typst_rows, phrase)


def test_no_furniture_left_in_the_text(typst_rows):
    text = seed_issue.section_text(typst_rows)
    # Typst spaces the header's digits from the CJK around them: 2021 年第 29 期
    assert "本文与正式文件" not in text and "广州市人民政府公报2021年第29期" not in norm(text)
    assert not re.search(r"(^|\n)— ?\d+ ?—($|\n)", text)
    reasons = Counter(r["reason"] for r in typst_rows["removed"])
    # 79 body pages (3..81): the colophon page has no footer, each other one a watermark
    # line above its page number; every page after the cover a running header
    assert reasons["watermark"] == reasons["page_number"] == 78
    assert reasons["running_header"] == 80


def test_the_annex_table_across_pages_is_one_table(typst_rows):
    annex = seed_issue.annex_table(typst_rows)
    assert (annex["page_start"], annex["page_end"]) == (73, 74)  # rows 1-20, header repeated, 21-40


def test_the_boxes_are_ruled_tables_with_captions(typst_rows):
    seed_issue.assert_boxes_are_ruled_tables_with_captions(typst_rows)


def test_the_tables_read_as_in_the_one_column_sample(typst_rows, tmp_path_factory):
    """专栏 1 on one page, 专栏 2 over a page break, the annex over two pages with its header
    repeated: the same rows as the builder's one-column sample (cell text compared without
    spaces: Typst spaces CJK from Latin text)."""
    from tests.conftest import SAMPLE_PDF

    one = ingest_rows(SAMPLE_PDF, tmp_path_factory.mktemp("one-column") / "out")
    assert seed_issue.doc1_tables(typst_rows) == seed_issue.doc1_tables(one)


def _without_run_time(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "processed_at"} for r in rows]


def test_the_backends_give_identical_rows(typst_pdf, typst_rows, tmp_path_factory):
    """PDFium reads every page itself (Typst's lone space objects are spaces, not text it
    left out: no page goes to pdfplumber, no warning) and reads it as pdfminer does, to the
    spaces Typst's quarter-em CJK-Latin spacing leaves exactly at a limit."""
    plumber = ingest_rows(typst_pdf, tmp_path_factory.mktemp("typst-plumber") / "out", "--backend", "pdfplumber")
    assert [d["warnings"] for d in typst_rows["documents"]] == [[], []]
    for name in DATASETS:
        assert _without_run_time(plumber[name]) == _without_run_time(typst_rows[name]), name
