"""The seed issue set in two columns (two 80 mm columns, an 8 mm gutter, headings, 目录 and
tables inside the columns, an embedded TrueType CJK font: how the State Council Gazette and
several provincial gazettes print), through the whole path: the one-column acceptance holds."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from gazette.cli import main
from pipeline.storage import Store
from tests.test_gazette_e2e import seed_body_headings


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def two_columns(pdf_factory, seed_text, tmp_path_factory):
    pdf = pdf_factory(seed_text, "gz-2021-29-two-columns.pdf", columns=2, font="embedded")
    out = tmp_path_factory.mktemp("two-columns") / "out"
    assert main(["ingest", str(pdf), "--out", str(out), "--raw", "", "-q"]) == 0
    store = Store(out)
    return {name: store.read(name).to_pylist()
            for name in ("documents", "sections", "tables", "table_cells", "toc_checks", "removed")}


def _doc_id(rows, number: str) -> str:
    return next(d["doc_id"] for d in rows["documents"] if d["doc_number"] == number)


def test_two_documents_with_their_numbers(two_columns):
    assert [d["doc_number"] for d in two_columns["documents"]] == ["穗府办〔2021〕9号", "穗林业园林规字〔2021〕2号"]
    first = two_columns["documents"][0]
    assert first["title"] == "广州市人民政府办公厅关于印发广州市金融发展“十四五”规划的通知"


def test_chapters_and_sections_follow_the_body(two_columns, seed_text):
    doc1 = _doc_id(two_columns, "穗府办〔2021〕9号")
    rows = [s for s in two_columns["sections"] if s["doc_id"] == doc1 and s["level"] in ("chapter", "section")]
    assert Counter(s["level"] for s in rows) == {"chapter": 15, "section": 64}
    assert [_norm(s["heading"]) for s in rows] == [_norm(h) for h in seed_body_headings(seed_text)]


def test_the_toc_in_two_columns_is_checked_like_a_one_column_toc(two_columns):
    doc1 = _doc_id(two_columns, "穗府办〔2021〕9号")
    checks = [c for c in two_columns["toc_checks"] if c["doc_id"] == doc1]
    listed = [c for c in checks if c["status"] not in ("extra", "gap", "duplicate")]
    assert len(listed) == 79
    assert [(c["status"], c["toc_title"], c["body_title"]) for c in checks if c["status"] != "ok"] == [
        ("title_mismatch", "优化金融政策支持", "优化金融政策支撑")]  # the seed's own drift


@pytest.mark.parametrize("phrase", ["为缓解中小微企业融资难题", "不断健全科学的生态公益林补偿机制"])
def test_sentences_cut_by_columns_and_pages_are_rejoined(two_columns, phrase):
    assert sum(s["text"].count(phrase) for s in two_columns["sections"]) == 1


def test_no_furniture_left_in_the_text(two_columns):
    text = "\n".join(s["heading"] + "\n" + s["text"] for s in two_columns["sections"])
    assert "本文与正式文件" not in text and "广州市人民政府公报 2021年第29期" not in text
    assert not re.search(r"(^|\n)— \d+ —($|\n)", text)
    reasons = Counter(r["reason"] for r in two_columns["removed"])
    assert reasons["watermark"] == reasons["page_number"] > 70


def test_the_annex_table_across_columns_and_pages_is_one_table(two_columns):
    doc1 = _doc_id(two_columns, "穗府办〔2021〕9号")
    [annex] = [t for t in two_columns["tables"] if t["doc_id"] == doc1 and t["header"][:1] == ["序号"]]
    assert annex["header"] == ["序号", "重点项目和工作", "责任单位"] and annex["n_rows"] == 40
    assert annex["caption"] == "广州市金融发展“十四五”重点项目和工作" and annex["page_end"] > annex["page_start"]
    cells = [c for c in two_columns["table_cells"] if c["table_id"] == annex["table_id"] and c["doc_id"] == doc1]
    assert [int(c["value"]) for c in sorted(cells, key=lambda c: c["row"]) if c["col"] == 0] == list(range(1, 41))


def test_no_table_is_made_of_the_two_columns_text(two_columns):
    doc1 = _doc_id(two_columns, "穗府办〔2021〕9号")
    doc1_tables = [t for t in two_columns["tables"] if t["doc_id"] == doc1]
    assert [t["kind"] for t in doc1_tables] == ["ruled", "ruled", "ruled"]  # 专栏 1, 专栏 2, the annex
    assert [t["caption"] for t in doc1_tables[:2]] == ["专栏 1 “十三五” 规划主要指标完成情况",
                                                       "专栏 2 “十四五”时期金融发展主要指标"]


def test_the_tables_read_as_in_the_one_column_sample(two_columns, tmp_path_factory):
    """专栏 1 continued from the foot of the left column to the head of the right one, 专栏 2
    over a page break, the annex over two columns and a page: the same rows as printed in
    one column (cell text compared without spaces: the two fonts space Latin text apart)."""
    from tests.conftest import SAMPLE_PDF

    out = tmp_path_factory.mktemp("one-column") / "out"
    assert main(["ingest", str(SAMPLE_PDF), "--out", str(out), "--raw", "", "-q"]) == 0
    store = Store(out)
    one = {name: store.read(name).to_pylist() for name in ("documents", "tables", "table_cells")}

    def tables(rows):
        doc1 = _doc_id(rows, "穗府办〔2021〕9号")
        cells: dict[str, list] = {}
        for c in rows["table_cells"]:
            if c["doc_id"] == doc1:
                cells.setdefault(c["table_id"], []).append((c["row"], c["col"], _norm(c["value"])))
        return [(t["caption"], [_norm(h) for h in t["header"]], t["n_rows"], sorted(cells[t["table_id"]]))
                for t in rows["tables"] if t["doc_id"] == doc1]

    assert tables(two_columns) == tables(one)
