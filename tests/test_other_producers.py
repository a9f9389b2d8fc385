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

from gazette.cli import main
from pipeline.storage import Store
from tests.fixtures.typst_render import render_pdf
from tests.test_gazette_e2e import seed_body_headings

DATASETS = ("documents", "sections", "tables", "table_cells", "toc_checks", "removed")


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _ingest(pdf, out, *extra: str) -> dict[str, list[dict]]:
    assert main(["ingest", str(pdf), "--out", str(out), "--raw", "", "-q", *extra]) == 0
    store = Store(out)
    return {name: store.read(name).to_pylist() for name in DATASETS}


@pytest.fixture(scope="module")
def typst_pdf(seed_text, tmp_path_factory):
    pdf = tmp_path_factory.mktemp("typst") / "gz-2021-29-typst.pdf"
    pdf.write_bytes(render_pdf(seed_text))
    return pdf


@pytest.fixture(scope="module")
def typst_rows(typst_pdf, tmp_path_factory):
    return _ingest(typst_pdf, tmp_path_factory.mktemp("typst-out") / "out")


def _doc_id(rows, number: str) -> str:
    return next(d["doc_id"] for d in rows["documents"] if d["doc_number"] == number)


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
    doc1 = _doc_id(typst_rows, "穗府办〔2021〕9号")
    rows = [s for s in typst_rows["sections"] if s["doc_id"] == doc1 and s["level"] in ("chapter", "section")]
    assert Counter(s["level"] for s in rows) == {"chapter": 15, "section": 64}
    assert [_norm(s["heading"]) for s in rows] == [_norm(h) for h in seed_body_headings(seed_text)]


def test_the_toc_with_typst_page_numbers_is_checked(typst_rows):
    """Typst's 目录 lines run dot leaders to the page number of the heading's label; the
    entries are checked as a 目录 without numbers is (the seed's own 支持/支撑 drift only)."""
    doc1 = _doc_id(typst_rows, "穗府办〔2021〕9号")
    checks = [c for c in typst_rows["toc_checks"] if c["doc_id"] == doc1]
    listed = [c for c in checks if c["status"] not in ("extra", "gap", "duplicate")]
    assert len(listed) == 79
    assert [(c["status"], c["toc_title"], c["body_title"]) for c in checks if c["status"] != "ok"] == [
        ("title_mismatch", "优化金融政策支持", "优化金融政策支撑")]


@pytest.mark.parametrize("phrase", ["为缓解中小微企业融资难题", "不断健全科学的生态公益林补偿机制"])
def test_sentences_cut_by_pages_are_rejoined(typst_rows, phrase):
    assert sum(s["text"].count(phrase) for s in typst_rows["sections"]) == 1


def test_no_furniture_left_in_the_text(typst_rows):
    text = "\n".join(s["heading"] + "\n" + s["text"] for s in typst_rows["sections"])
    # Typst spaces the header's digits from the CJK around them: 2021 年第 29 期
    assert "本文与正式文件" not in text and "广州市人民政府公报2021年第29期" not in _norm(text)
    assert not re.search(r"(^|\n)— ?\d+ ?—($|\n)", text)
    reasons = Counter(r["reason"] for r in typst_rows["removed"])
    # 79 body pages (3..81): the colophon page has no footer, each other one a watermark
    # line above its page number; every page after the cover a running header
    assert reasons["watermark"] == reasons["page_number"] == 78
    assert reasons["running_header"] == 80


def test_the_annex_table_across_pages_is_one_table(typst_rows):
    doc1 = _doc_id(typst_rows, "穗府办〔2021〕9号")
    [annex] = [t for t in typst_rows["tables"] if t["doc_id"] == doc1 and t["header"][:1] == ["序号"]]
    assert annex["header"] == ["序号", "重点项目和工作", "责任单位"] and annex["n_rows"] == 40
    assert annex["caption"] == "广州市金融发展“十四五”重点项目和工作"
    assert (annex["page_start"], annex["page_end"]) == (73, 74)  # rows 1-20, header repeated, 21-40
    cells = [c for c in typst_rows["table_cells"] if c["table_id"] == annex["table_id"] and c["doc_id"] == doc1]
    assert [int(c["value"]) for c in sorted(cells, key=lambda c: c["row"]) if c["col"] == 0] == list(range(1, 41))


def test_the_boxes_are_ruled_tables_with_captions(typst_rows):
    doc1 = _doc_id(typst_rows, "穗府办〔2021〕9号")
    doc1_tables = [t for t in typst_rows["tables"] if t["doc_id"] == doc1]
    assert [t["kind"] for t in doc1_tables] == ["ruled", "ruled", "ruled"]  # 专栏 1, 专栏 2, the annex
    assert [t["caption"] for t in doc1_tables[:2]] == ["专栏 1 “十三五” 规划主要指标完成情况",
                                                       "专栏 2 “十四五”时期金融发展主要指标"]


def _doc1_tables(rows):
    doc1 = _doc_id(rows, "穗府办〔2021〕9号")
    cells: dict[str, list] = {}
    for c in rows["table_cells"]:
        if c["doc_id"] == doc1:
            cells.setdefault(c["table_id"], []).append((c["row"], c["col"], _norm(c["value"])))
    return [(t["caption"], [_norm(h) for h in t["header"]], t["n_rows"], sorted(cells[t["table_id"]]))
            for t in rows["tables"] if t["doc_id"] == doc1]


def test_the_tables_read_as_in_the_one_column_sample(typst_rows, tmp_path_factory):
    """专栏 1 on one page, 专栏 2 over a page break, the annex over two pages with its header
    repeated: the same rows as the builder's one-column sample (cell text compared without
    spaces: Typst spaces CJK from Latin text)."""
    from tests.conftest import SAMPLE_PDF

    one = _ingest(SAMPLE_PDF, tmp_path_factory.mktemp("one-column") / "out")
    assert _doc1_tables(typst_rows) == _doc1_tables(one)


def _without_run_time(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "processed_at"} for r in rows]


def test_the_backends_give_identical_rows(typst_pdf, typst_rows, tmp_path_factory):
    """PDFium reads every page itself (Typst's lone space objects are spaces, not text it
    left out: no page goes to pdfplumber, no warning) and reads it as pdfminer does, to the
    spaces Typst's quarter-em CJK-Latin spacing leaves exactly at a limit."""
    plumber = _ingest(typst_pdf, tmp_path_factory.mktemp("typst-plumber") / "out", "--backend", "pdfplumber")
    assert [d["warnings"] for d in typst_rows["documents"]] == [[], []]
    for name in DATASETS:
        assert _without_run_time(plumber[name]) == _without_run_time(typst_rows[name]), name
