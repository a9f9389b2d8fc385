"""What the seed issue (``tests/data/seeds/002_…``) reads as, whoever sets it: the builder in
two columns, Typst, fpdf2. Each expectation was checked by hand against the printed issue; a
test of one rendering calls these and adds what is its own (its pages, its furniture).

``rows``: every dataset of one ingest, as ``{name: Store.read(name).to_pylist()}``."""

from __future__ import annotations

import re
from collections import Counter

from gazette.cli import main
from pipeline.storage import Store
from tests.test_gazette_e2e import seed_body_headings

DOC1, DOC2 = "穗府办〔2021〕9号", "穗林业园林规字〔2021〕2号"
DOC1_TITLE = "广州市人民政府办公厅关于印发广州市金融发展“十四五”规划的通知"
# two sentences the seed's watermark lines cut in two: whole again in the text
CUT_SENTENCES = ("为缓解中小微企业融资难题", "不断健全科学的生态公益林补偿机制")
ANNEX_HEADER = ["序号", "重点项目和工作", "责任单位"]
ANNEX_CAPTION = "广州市金融发展“十四五”重点项目和工作"
BOX_CAPTIONS = ["专栏 1 “十三五” 规划主要指标完成情况", "专栏 2 “十四五”时期金融发展主要指标"]


DATASETS = ("documents", "sections", "tables", "table_cells", "toc_checks", "removed")


def ingest_rows(pdf, out, *options: str) -> dict[str, list[dict]]:
    """``rows`` of one ``gazette ingest PDF --out OUT [options]`` (which must succeed)."""
    assert main(["ingest", str(pdf), "--out", str(out), "--raw", "", "-q", *options]) == 0
    store = Store(out)
    return {name: store.read(name).to_pylist() for name in DATASETS}


def section_text(rows: dict) -> str:
    """Every section's heading and text, in order: what furniture must not be left in."""
    return "\n".join(s["heading"] + "\n" + s["text"] for s in rows["sections"])


def norm(text: str) -> str:
    """Text without whitespace: producers space Latin text apart from CJK differently."""
    return re.sub(r"\s+", "", text)


def doc_id(rows: dict, number: str = DOC1) -> str:
    return next(d["doc_id"] for d in rows["documents"] if d["doc_number"] == number)


def assert_chapters_and_sections_follow_the_body(rows: dict, seed_text: str) -> None:
    """15 chapters and 64 sections, the body's headings in order."""
    doc1 = doc_id(rows)
    found = [s for s in rows["sections"] if s["doc_id"] == doc1 and s["level"] in ("chapter", "section")]
    assert Counter(s["level"] for s in found) == {"chapter": 15, "section": 64}
    assert [norm(s["heading"]) for s in found] == [norm(h) for h in seed_body_headings(seed_text)]


def assert_toc_checked(rows: dict) -> None:
    """79 目录 entries checked; the seed's own drift (支持/支撑) is the only difference."""
    checks = [c for c in rows["toc_checks"] if c["doc_id"] == doc_id(rows)]
    assert len([c for c in checks if c["status"] not in ("extra", "gap", "duplicate")]) == 79
    assert [(c["status"], c["toc_title"], c["body_title"]) for c in checks if c["status"] != "ok"] == [
        ("title_mismatch", "优化金融政策支持", "优化金融政策支撑")]


def assert_sentence_whole(rows: dict, phrase: str) -> None:
    assert sum(s["text"].count(phrase) for s in rows["sections"]) == 1


def annex_table(rows: dict) -> dict:
    """The 40-row 附件 table, printed across pages (and columns): one table, its caption, 序号
    1…40 in order. Returns its ``tables`` row (its pages are the rendering's own)."""
    doc1 = doc_id(rows)
    [annex] = [t for t in rows["tables"] if t["doc_id"] == doc1 and t["header"][:1] == ANNEX_HEADER[:1]]
    assert annex["header"] == ANNEX_HEADER and annex["n_rows"] == 40
    assert annex["caption"] == ANNEX_CAPTION
    cells = [c for c in rows["table_cells"] if c["table_id"] == annex["table_id"] and c["doc_id"] == doc1]
    assert [int(c["value"]) for c in sorted(cells, key=lambda c: c["row"]) if c["col"] == 0] == list(range(1, 41))
    return annex


def assert_boxes_are_ruled_tables_with_captions(rows: dict) -> None:
    """Document 1's tables: 专栏 1, 专栏 2 and the annex, all ruled (no table made of text)."""
    tables = [t for t in rows["tables"] if t["doc_id"] == doc_id(rows)]
    assert [t["kind"] for t in tables] == ["ruled", "ruled", "ruled"]
    assert [t["caption"] for t in tables[:2]] == BOX_CAPTIONS


def doc1_tables(rows: dict) -> list[tuple]:
    """Document 1's tables as read: caption, header, row count and every cell (text without
    spaces), to compare one rendering with another."""
    doc1 = doc_id(rows)
    cells: dict[str, list] = {}
    for c in rows["table_cells"]:
        if c["doc_id"] == doc1:
            cells.setdefault(c["table_id"], []).append((c["row"], c["col"], norm(c["value"])))
    return [(t["caption"], [norm(h) for h in t["header"]], t["n_rows"], sorted(cells[t["table_id"]]))
            for t in rows["tables"] if t["doc_id"] == doc1]
