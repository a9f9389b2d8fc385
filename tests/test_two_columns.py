"""The seed issue set in two columns (two 80 mm columns, an 8 mm gutter, headings, 目录 and
tables inside the columns, an embedded TrueType CJK font: how the State Council Gazette and
several provincial gazettes print), through the whole path: the one-column acceptance holds."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests import seed_issue


@pytest.fixture(scope="module")
def two_columns(pdf_factory, seed_text, tmp_path_factory):
    pdf = pdf_factory(seed_text, "gz-2021-29-two-columns.pdf", columns=2, font="embedded")
    return seed_issue.ingest_rows(pdf, tmp_path_factory.mktemp("two-columns") / "out")


def test_two_documents_with_their_numbers(two_columns):
    assert [d["doc_number"] for d in two_columns["documents"]] == [seed_issue.DOC1, seed_issue.DOC2]
    assert two_columns["documents"][0]["title"] == seed_issue.DOC1_TITLE


def test_chapters_and_sections_follow_the_body(two_columns, seed_text):
    seed_issue.assert_chapters_and_sections_follow_the_body(two_columns, seed_text)


def test_the_toc_in_two_columns_is_checked_like_a_one_column_toc(two_columns):
    seed_issue.assert_toc_checked(two_columns)


@pytest.mark.parametrize("phrase", seed_issue.CUT_SENTENCES)
def test_sentences_cut_by_columns_and_pages_are_rejoined(two_columns, phrase):
    seed_issue.assert_sentence_whole(two_columns, phrase)


def test_no_furniture_left_in_the_text(two_columns):
    text = seed_issue.section_text(two_columns)
    assert "本文与正式文件" not in text and "广州市人民政府公报 2021年第29期" not in text
    assert not re.search(r"(^|\n)— \d+ —($|\n)", text)
    reasons = Counter(r["reason"] for r in two_columns["removed"])
    assert reasons["watermark"] == reasons["page_number"] > 70


def test_the_annex_table_across_columns_and_pages_is_one_table(two_columns):
    annex = seed_issue.annex_table(two_columns)
    assert annex["page_end"] > annex["page_start"]


def test_no_table_is_made_of_the_two_columns_text(two_columns):
    seed_issue.assert_boxes_are_ruled_tables_with_captions(two_columns)


def test_the_tables_read_as_in_the_one_column_sample(two_columns, tmp_path_factory):
    """专栏 1 continued from the foot of the left column to the head of the right one, 专栏 2
    over a page break, the annex over two columns and a page: the same rows as printed in
    one column (cell text compared without spaces: the two fonts space Latin text apart)."""
    from tests.conftest import SAMPLE_PDF

    one = seed_issue.ingest_rows(SAMPLE_PDF, tmp_path_factory.mktemp("one-column") / "out")

    assert seed_issue.doc1_tables(two_columns) == seed_issue.doc1_tables(one)
