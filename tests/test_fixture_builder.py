"""Tests of the gazette PDF fixture builder (tests/fixtures/build_gazette.py)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pdfplumber
import pypdfium2 as pdfium
import pytest

from tests.fixtures.build_gazette import (
    DEFAULT_WATERMARK,
    MARGIN_X,
    build_long_pdf,
    build_pdf,
    find_seed,
    synthetic_gazette_text,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "raw" / "samples" / "gz-2021-29.pdf"
SEED = find_seed()  # tests/data/seeds, in the repository
HEADER = "广州市人民政府公报 2021年第29期"
VARIANTS = {"（本文与正式文件同等效力）", "(本文与正式文件同等效力)", "（本文与正式文件同效力）"}


def _build(text: str, **kw):
    buf = io.BytesIO()
    info = build_pdf(text, buf, **kw)
    return buf.getvalue(), info


def _page_lines(data: bytes) -> list[list[str]]:
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return [(p.extract_text() or "").split("\n") for p in pdf.pages]


@pytest.fixture(scope="module")
def seed_text() -> str:
    assert SEED is not None, "seed text 002_5861feff4b853c8c.txt not found in tests/data/seeds"
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def seed_build(seed_text):
    data, info = _build(seed_text)
    return data, info, _page_lines(data)


SMALL = """第一段正文内容。这是一个没有封面和目录的简单文本，用于检验基本排版。

二、表格测试

| 序号 | 内容 | 单位 |
|---|---|---|
{rows}
| 20 | {long} | 测试单位 |
| 21 | 最后一行 | 单位 |

| 类别 | 指标 | 2020 年 | 2025 年 |
|---|---|---|---|
| 总体目标 | 金融业增加值 | 8.9 | 9.5 |
| ^^ | 金融业总资产 | 9.06 | 11 |
| 分行业目标 | 银行业总资产 | << | 9.6 |

[[pagebreak]]

新页上的段落，为缓解中

（本文与正式文件同效力）

小微企业融资难题，我市出台创新举措。
""".format(rows="\n".join(f"| {i} | 项目{i}的说明文字。 | 单位{i} |" for i in range(1, 20)),
           long="很长的单元格内容用于测试跨页拆分行。" * 36)


# ------------------------------------------------------------------------------ seed issue


def test_deterministic_and_sample_up_to_date(seed_text, seed_build):
    data, _, _ = seed_build
    again, _ = _build(seed_text)
    assert data == again
    if SAMPLE.exists():
        assert SAMPLE.read_bytes() == data, "regenerate raw/samples/gz-2021-29.pdf"


def test_cover_has_no_header_body_pages_do(seed_build):
    _, info, pages = seed_build
    assert info.header == HEADER
    assert info.page_kinds[0] == "cover"
    assert HEADER not in "\n".join(pages[0])
    assert not any(re.fullmatch(r"— \d+ —", ln) for ln in pages[0])
    body = [i for i, k in enumerate(info.page_kinds) if k == "body"]
    assert len(body) > 60
    for i in body:
        lines = pages[i]
        assert lines[0] == HEADER
        assert lines[-1] == f"— {info.printed_pages[i]} —"
        assert lines[-2] == info.watermarks[i + 1]
    assert info.printed_pages[body[0]] == 1
    assert [info.printed_pages[i] for i in body] == list(range(1, len(body) + 1))


def test_watermark_variants_and_breaks(seed_build):
    data, info, pages = seed_build
    assert set(info.explicit_watermarks.values()) >= VARIANTS
    assert {ln for lines in pages for ln in lines} >= VARIANTS
    # overflow pages carry the default variant
    overflow = set(info.watermarks) - set(info.explicit_watermarks)
    assert overflow and all(info.watermarks[p] == DEFAULT_WATERMARK for p in overflow)
    # a sentence cut by a watermark line continues on the next page, without indent
    i = next(i for i, lines in enumerate(pages)
             if lines[-3].endswith("引导") and lines[-2] == "（本文与正式文件同效力）")
    assert pages[i + 1][1].startswith("各类资源投资关键核心技术突破")
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        chars = [c for c in pdf.pages[i + 1].chars if c["text"] == "各"]
        first = min(chars, key=lambda c: c["top"])
    assert abs(first["x0"] - MARGIN_X) < 0.5  # a new paragraph would be indented by 2 chars
    # a paragraph cut mid-sentence without a watermark line is one paragraph again
    assert any("为缓解中小微企业融资难题" in "".join(lines) for lines in pages)


def test_annex_table_header_repeated(seed_build):
    data, info, _ = seed_build
    head = ["序号", "重点项目和工作", "责任单位"]
    found, numbers = [], []
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            for t in page.find_tables():
                rows = t.extract()
                if rows and rows[0] == head:
                    found.append(page.page_number)
                    numbers += [r[0] for r in rows[1:]]
    assert len(found) >= 2
    assert numbers == [str(n) for n in range(1, 41)]
    annex = next(t for t in info.tables if t["header"] == head)
    assert annex["n_rows"] == 40 and annex["parts"] == 3 and annex["pages"] == found


def test_doc_starts_match_rewritten_issue_toc(seed_build):
    _, info, pages = seed_build
    assert len(info.doc_starts) == 2
    assert [e["ref"] for e in info.issue_toc] == info.doc_starts
    toc = "\n".join(pages[info.page_kinds.index("front")])
    for ref in info.doc_starts:
        assert re.search(rf"\({ref}\)$", toc, re.M)
    for page, printed, number in zip(info.doc_start_pages, info.doc_starts, info.doc_numbers, strict=True):
        lines = pages[page - 1]
        assert number in lines and lines[-1] == f"— {printed} —"


def test_text_extracts_cleanly(seed_text, seed_build):
    data, _, pages = seed_build
    want = set(seed_text) - set(" \n|-")
    plumber = set("".join("".join(lines) for lines in pages))
    assert "(cid:" not in "".join("".join(lines) for lines in pages)
    assert want - plumber == set()
    doc = pdfium.PdfDocument(data)
    try:
        pdfium_text = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()
    assert want - set(pdfium_text) == set()


def test_toc_page_numbers_and_offset(seed_text):
    _, info = _build(seed_text, toc_page_numbers=True, toc_page_offset=3)
    printed = {(h["doc"], h["text"]): h["printed"] for h in info.headings}
    entries = [e for e in info.toc_entries if e["kind"] in ("chapter", "section")]
    assert len(entries) == 15 + 64
    checked = 0
    for e in entries:
        if (e["doc"], e["text"]) in printed:  # TOC and body wording differ once in the seed
            assert e["page_shown"] == printed[(e["doc"], e["text"])] + 3
            checked += 1
    assert checked >= 75


# ------------------------------------------------------------------------------ generic API


def test_options_change_text():
    text = synthetic_gazette_text(n_docs=1, chapters=2, sections=2, paras=4)
    base, info = _build(text)
    assert info.header == "某某市人民政府公报 2024年第5期"
    styles = {"dash": "— {n} —", "hyphen": "- {n} -", "plain": "{n}", "di_ye": "第 {n} 页"}
    for style, fmt in styles.items():
        data, inf = _build(text, header="测试公报 2024年第1期", page_number_style=style,
                           first_printed_page=5)
        pages = _page_lines(data)
        body = [i for i, k in enumerate(inf.page_kinds) if k == "body"]
        assert pages[body[0]][0] == "测试公报 2024年第1期"
        assert pages[body[0]][-1] == fmt.format(n=5)
        assert pages[body[-1]][-1] == fmt.format(n=4 + len(body))
    data, inf = _build(text, header="")
    assert "公报" not in _page_lines(data)[inf.page_kinds.index("body")][0]
    data, inf = _build(text, watermark_on_every_page=False)
    assert set(inf.watermarks) == set(inf.explicit_watermarks)
    assert base != data


def test_small_text_pagebreak_split_rows_and_spans():
    data, info = _build(SMALL, split_rows=True)
    assert info.page_kinds == ["body"] * info.n_pages and info.header == ""
    pages = _page_lines(data)
    assert pages[0][-1] == "— 1 —" and pages[0][0].startswith("第一段正文内容")
    # [[pagebreak]] then an explicit watermark page
    i = next(i for i, lines in enumerate(pages) if lines[0] == "新页上的段落，为缓解中")
    assert info.watermarks[i + 1] == "（本文与正式文件同效力）"
    assert pages[i + 1][0] == "小微企业融资难题，我市出台创新举措。"
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        t1 = pdf.pages[0].find_tables()[0].extract()
        t2 = pdf.pages[1].find_tables()
    # row 20 is split mid-row: its long cell continues under the repeated header
    assert t1[0] == ["序号", "内容", "单位"] and t1[-1][0] == "20"
    cont = t2[0].extract()
    assert cont[0] == ["序号", "内容", "单位"] and cont[1][0] in ("", None) and "拆分行" in cont[1][1]
    merged = t2[1].extract()
    assert merged[1][0] == "总体目标" and merged[2][0] in ("", None)
    assert merged[3][1] == "银行业总资产" and merged[3][2] in ("", None)
    # without split_rows the long row moves to the next page as a whole
    data2, _ = _build(SMALL)
    with pdfplumber.open(io.BytesIO(data2)) as pdf:
        assert pdf.pages[0].find_tables()[0].extract()[-1][0] == "19"


def test_synthetic_issue_and_long_pdf():
    data, info = _build(synthetic_gazette_text(n_docs=3, chapters=2, sections=2, paras=3))
    assert len(info.doc_starts) == 3
    assert [e["ref"] for e in info.issue_toc] == info.doc_starts
    assert info.page_kinds[0] == "cover" and info.page_kinds[-1] == "back"
    buf = io.BytesIO()
    long_info = build_long_pdf(buf, 40, seed_text=synthetic_gazette_text(2, 4, 3, 6))
    assert long_info.n_pages == 40 and long_info.truncated
    doc = pdfium.PdfDocument(buf.getvalue())
    try:
        assert len(doc) == 40
    finally:
        doc.close()
    assert [e["ref"] for e in long_info.issue_toc] == long_info.doc_starts


@pytest.mark.slow
def test_long_pdf_500_pages():
    buf = io.BytesIO()
    info = build_long_pdf(buf, 500)
    assert info.n_pages == 500
    assert len(buf.getvalue()) < 5_000_000


# ------------------------------------------------------------------ what other producers do

BOXED = "第一段正文内容，2024年的数字和Latin words混排。\n\n第二段正文内容，没有数字。\n"


def test_invisible_boxes_sit_behind_each_text_run_white_and_unstroked():
    plain, _ = _build(BOXED)
    boxed, _ = _build(BOXED, invisible_boxes=True)
    assert _page_lines(boxed) == _page_lines(plain)  # nothing shows: the text reads the same
    with pdfplumber.open(io.BytesIO(plain)) as pdf:
        assert pdf.pages[0].rects == []
    with pdfplumber.open(io.BytesIO(boxed)) as pdf:
        page = pdf.pages[0]
        rects = page.rects
        assert {(r["fill"], r["stroke"], tuple(r["non_stroking_color"])) for r in rects} == {(True, False, (1.0, 1.0, 1.0))}
        # one box per run of one script: line 1 splits where 2024 and the Latin words start
        # and end, the page number "— 1 —" in three, the watermark line is one run
        runs = ["第一段正文内容，", "2024", "年的数字和", "Latin words", "混排。", "第二段正文内容，没有数字。",
                "—", " 1 ", "—", DEFAULT_WATERMARK]
        assert len(rects) == len(runs)
        for line in page.extract_text_lines():  # every line of text lies on boxes
            assert any(r["x0"] - 1 <= line["x0"] and r["top"] - 1 <= line["top"] and line["bottom"] <= r["bottom"] + 1
                       for r in rects)


def test_an_issue_with_invisible_boxes_reads_as_without_them(seed_text, seed_build, tmp_path):
    """The WPS/Aspose legal-database export's boxes (about 60 a page) make no table and take
    no text out of the body: the sample issue gives the same rows with and without them."""
    import datetime as dt

    from pipeline.process import process_pdf
    from pipeline.rows import result_tables

    def rows(data: bytes, name: str) -> dict:
        (tmp_path / name).write_bytes(data)
        result = process_pdf(tmp_path / name, source="x", raw_sha256="0" * 64)
        tables = result_tables(result, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        return {name: t.to_pylist() for name, t in tables.items()}

    boxed, info = _build(seed_text, invisible_boxes=True)
    with pdfplumber.open(io.BytesIO(boxed)) as pdf:
        body = [len(pdf.pages[i].rects) for i, kind in enumerate(info.page_kinds) if kind == "body"]
    assert min(body) > 0 and sum(body) / len(body) > 40  # boxes on every body page, 60 or so on a full one
    got, want = rows(boxed, "boxed.pdf"), rows(seed_build[0], "plain.pdf")
    assert got == want
    assert len(got["tables"]) == 4  # 0 phantom tables: two 专栏 tables, the 附件 table, the colophon


STACKED = """财政拨款“三公”经费支出决算表

单位：万元

| 财政拨款“三公”经费 | << | << | << |
| 合计 | << | 公务接待费 | << |
| 预算数 | 决算数 | 预算数 | 决算数 |
|---|---|---|---|
""" + "\n".join(f"| {i}.5 | {i} | 1 | 2 |" for i in range(1, 61)) + "\n"


def test_stacked_header_rows_are_bold_spanning_and_repeated_on_every_page():
    data, info = _build(STACKED)
    [table] = info.tables
    assert table["header_rows"] == [["财政拨款“三公”经费", "<<", "<<", "<<"], ["合计", "<<", "公务接待费", "<<"],
                                    ["预算数", "决算数", "预算数", "决算数"]]
    assert table["n_rows"] == 60 and len(table["pages"]) >= 2
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages[: len(table["pages"])]:
            grid = page.find_tables()[0].extract()
            assert grid[0] == ["财政拨款“三公”经费", None, None, None]
            assert grid[1] == ["合计", None, "公务接待费", None]
            assert grid[2] == ["预算数", "决算数", "预算数", "决算数"]
