"""A legal database's export of a whole code (民法典-like): the labelled metadata block, a 目录
without page numbers that shares its last page with the body, 编 / 分编 / 章 / 节 / 附则 with
chapters restarting in every 编, spaced-out titles, and 1,260 articles."""

from __future__ import annotations

import datetime as dt

import pytest

from gazette.cli import main
from pipeline.issue import labelled_fields
from pipeline.storage import Store
from tests.fixtures.legal_code import LAST_ARTICLE, civil_code_outline, civil_code_text


@pytest.fixture(scope="module")
def code_output(pdf_factory, tmp_path_factory):
    pdf = pdf_factory(civil_code_text(), "civil-code.pdf", invisible_boxes=True)  # as the export draws them
    out = tmp_path_factory.mktemp("civil-code") / "out"
    assert main(["ingest", str(pdf), "--out", str(out), "--raw", "", "-q"]) == 0
    store = Store(out)
    return {name: store.read(name).to_pylist() for name in ("documents", "sections", "toc_checks", "tables")}


def test_one_document_with_the_labelled_metadata(code_output):
    [doc] = code_output["documents"]
    assert doc["title"] == "中华人民共和国民法典"
    assert doc["doc_number"] == "中华人民共和国主席令第四十五号"
    assert doc["issuer"] == "全国人民代表大会常务委员会"
    assert doc["signed_date"] == dt.date(2020, 5, 28) and doc["effective_date"] == dt.date(2021, 1, 1)
    assert doc["validity"] == "全文有效"
    assert doc["n_tables"] == 0 and code_output["tables"] == []


def test_articles_one_to_1260_in_order(code_output):
    articles = [s for s in code_output["sections"] if s["level"] == "article"]
    assert [s["number"] for s in articles] == list(range(1, LAST_ARTICLE + 1))
    assert articles[-1]["heading"] == "第一千二百六十条"
    # a reference inside a sentence stays in its article
    assert "依照本法第一千二百零四条的规定处理" in next(s["text"] for s in articles if s["number"] == 1221)


def test_the_outline_of_parts_subparts_chapters_and_sections(code_output):
    levels = ("part", "subpart", "chapter", "section", "supplementary")
    got = [(s["level"], s["number"], s["title"]) for s in code_output["sections"] if s["level"] in levels]
    assert got == civil_code_outline()
    assert sum(1 for s in code_output["sections"] if s["level"] == "part") == 7
    by_seq = {s["seq"]: s for s in code_output["sections"]}
    chapter_one_of_part_two = next(s for s in code_output["sections"] if s["path"] == "第二编/第一分编/第一章")
    assert by_seq[chapter_one_of_part_two["parent_seq"]]["title"] == "通则"
    last = next(s for s in code_output["sections"] if s["level"] == "article" and s["number"] == LAST_ARTICLE)
    assert last["path"] == "附则/第一千二百六十条"


def test_the_toc_without_page_numbers_is_checked_entry_by_entry(code_output):
    checks = code_output["toc_checks"]
    assert len(checks) == len(civil_code_outline()) == 127
    assert {c["status"] for c in checks} == {"ok"} and all(c["toc_page"] is None for c in checks)
    [doc] = code_output["documents"]
    assert doc["toc_entries"] == 127 and doc["toc_complete"] is True and doc["toc_problems"] == 0


@pytest.mark.parametrize(("line", "fields"), [
    ("发文单位：全国人民代表大会常务委员会", {"issuer": "全国人民代表大会常务委员会"}),
    ("文 号：中华人民共和国主席令第四十五号", {"doc_number": "中华人民共和国主席令第四十五号"}),
    ("发 文 日 期 ： 2020-05-28", {"signed_date": "2020-05-28"}),
    ("发文日期：2020-05-28　生效日期：2021-01-01", {"signed_date": "2020-05-28", "effective_date": "2021-01-01"}),
    ("时效性：现行有效", {"validity": "现行有效"}),
    ("本法所称发文单位：指……", {}),  # a label inside a sentence
    ("文号：", {}),
])
def test_labelled_fields(line, fields):
    assert labelled_fields(line) == fields
