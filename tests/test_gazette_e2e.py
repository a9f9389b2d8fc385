"""The whole PDF path on real PDFs: the bundled sample, builder variants and the corpus."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest

from gazette.cli import main
from pipeline.storage import Store
from tests.conftest import CORPUS, SAMPLE_PDF

HEADING = re.compile(r"^第[一二三四五六七八九十]+[章节]\s*\S")


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def sample_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "out"
    assert main(["ingest", str(SAMPLE_PDF), "--out", str(out), "--raw", "", "-q"]) == 0
    return out


def seed_body_headings(seed: str) -> list[str]:
    """章/节 headings of document 1's body, as the seed prints them (not its 目录)."""
    start = seed.index("本规划根据")
    end = seed.index("附件：")
    return [ln.strip() for ln in seed[start:end].splitlines() if HEADING.match(ln.strip())]


def test_sample_documents(sample_out):
    docs = {d["doc_number"]: d for d in ds.dataset(sample_out / "documents").to_table().to_pylist()}
    assert set(docs) == {"穗府办〔2021〕9号", "穗林业园林规字〔2021〕2号"}
    d1 = docs["穗府办〔2021〕9号"]
    assert d1["issue"] == "2021-29" and d1["kind"] == "gazette_pdf"
    assert d1["title"] == "广州市人民政府办公厅关于印发广州市金融发展“十四五”规划的通知"
    assert d1["issuer"] == "广州市人民政府办公厅" and str(d1["signed_date"]) == "2021-09-17"
    assert d1["publication"] == "主动公开"
    assert d1["page_start"] < d1["page_end"] < docs["穗林业园林规字〔2021〕2号"]["page_start"]


def test_sample_chapters_and_sections_follow_the_body(sample_out, seed_text):
    con = duckdb.connect()
    doc1 = con.sql(f"select doc_id from '{sample_out}/documents/**/*.parquet' where doc_number = '穗府办〔2021〕9号'").fetchall()[0][0]
    rows = con.sql(f"select level, heading, parent_seq, seq from '{sample_out}/sections/**/*.parquet' "
                   f"where doc_id = '{doc1}' and level in ('chapter', 'section') order by seq").fetchall()
    assert sum(1 for r in rows if r[0] == "chapter") == 15
    assert sum(1 for r in rows if r[0] == "section") == 64
    assert [_norm(r[1]) for r in rows] == [_norm(h) for h in seed_body_headings(seed_text)]
    assert "第一节 优化金融政策支撑" in [r[1] for r in rows]
    chapters = {r[3] for r in rows if r[0] == "chapter"}
    assert all(r[2] in chapters for r in rows if r[0] == "section")


def test_sample_document2_outline(sample_out):
    con = duckdb.connect()
    rows = con.sql(f"select s.level, s.title, s.seq, s.parent_seq from '{sample_out}/sections/**/*.parquet' s "
                   f"join '{sample_out}/documents/**/*.parquet' d using (doc_id) "
                   f"where d.doc_number = '穗林业园林规字〔2021〕2号' order by seq").fetchall()
    items = [r[1] for r in rows if r[0] == "item"]
    assert items == ["实施范围", "实施依据", "总体要求原则", "经济补偿方案", "资金拨付", "资金管理", "部门分工", "保障措施"]
    by_seq = {r[2]: r for r in rows}
    subitems = [r for r in rows if r[0] == "subitem"]
    assert subitems and all(by_seq[r[3]][0] == "item" for r in subitems)
    points = [r for r in rows if r[0] == "point"]
    assert points and all(by_seq[r[3]][0] == "subitem" for r in points)
    assert ("subitem", "指导思想") in [(r[0], r[1]) for r in rows]


def test_sample_furniture_is_gone_from_text_and_kept_in_removed(sample_out):
    con = duckdb.connect()
    leaked = con.sql(f"""select count(*) from '{sample_out}/sections/**/*.parquet'
        where text like '%本文与正式文件%' or heading like '%本文与正式文件%'
           or text like '%广州市人民政府公报 2021年第29期%' or regexp_matches(text, '(^|\\n)— \\d+ —($|\\n)')""").fetchall()
    assert leaked[0][0] == 0
    reasons = dict(con.sql(f"select reason, count(*) from '{sample_out}/removed/**/*.parquet' group by 1").fetchall())
    assert reasons["watermark"] == 79  # every body page carries one (the builder's count)
    assert reasons["page_number"] == 79
    assert reasons["running_header"] == 81  # every page but the cover
    variants = {r[0] for r in con.sql(f"select text from '{sample_out}/removed/**/*.parquet' where reason = 'watermark'").fetchall()}
    assert {"（本文与正式文件同等效力）", "(本文与正式文件同等效力)", "（本文与正式文件同效力）"} <= variants


@pytest.mark.parametrize("phrase", ["为缓解中小微企业融资难题", "不断健全科学的生态公益林补偿机制"])
def test_sentences_cut_by_page_breaks_are_rejoined(sample_out, phrase):
    found = duckdb.sql(f"select count(*) from '{sample_out}/sections/**/*.parquet' where text like '%{phrase}%'").fetchall()
    assert found[0][0] == 1


def test_sample_tables(sample_out):
    tables = {t["caption"]: t for t in ds.dataset(sample_out / "tables").to_table().to_pylist()}
    annex = tables["广州市金融发展“十四五”重点项目和工作"]
    assert annex["header"] == ["序号", "重点项目和工作", "责任单位"] and annex["n_rows"] == 40
    assert annex["label"] == "附件" and annex["page_end"] > annex["page_start"]
    cells = duckdb.sql(f"select row, col, value from '{sample_out}/table_cells/**/*.parquet' "
                       f"where doc_id = '{annex['doc_id']}' and table_id = '{annex['table_id']}'").fetchall()
    assert [int(v) for r, c, v in sorted(cells) if c == 0] == list(range(1, 41))
    assert not [v for _, _, v in cells if "本文与正式文件" in v or re.fullmatch(r"— \d+ —", v)]
    typed = Store(sample_out).read_table_file(annex["doc_id"], annex["table_id"])
    assert typed.schema.field("序号").type == "int64" and typed.num_rows == 40
    assert any(t["kind"] == "borderless" and t["n_cols"] == 2 for t in tables.values())  # the colophon
    section_text = duckdb.sql(f"select text from '{sample_out}/sections/**/*.parquet' "
                              f"where doc_id = '{annex['doc_id']}' and seq = {annex['section_seq']}").fetchall()[0][0]
    assert "以广州期货交易所为核心" not in section_text and "[表 " in section_text


def test_validate_report_and_strict_exit(sample_out, capsys):
    assert main(["validate", "--out", str(sample_out), "--strict"]) == 0
    report = capsys.readouterr().out
    assert "79 entries checked: ok 78, title_mismatch 1" in report
    assert "目录「优化金融政策支持」 body「优化金融政策支撑」" in report
    assert "2 of 2 listed documents found as listed" in report
    checks = duckdb.sql(f"select level, number, parent_number, status, toc_title, body_title, similarity "
                        f"from '{sample_out}/toc_checks/**/*.parquet' where status <> 'ok'").fetchall()
    assert checks == [("section", 1, 12, "title_mismatch", "优化金融政策支持", "优化金融政策支撑", 0.875)]


def test_tables_command_lists_tables(sample_out, capsys):
    assert main(["tables", "--out", str(sample_out)]) == 0
    out = capsys.readouterr().out
    assert "40 x 3" in out and "广州市金融发展“十四五”重点项目和工作" in out and "4 tables" in out


def test_reingest_replaces_rows(sample_out):
    before = {n: Store(sample_out).read(n).num_rows for n in ("documents", "sections", "removed", "tables", "table_cells")}
    assert main(["ingest", str(SAMPLE_PDF), "--out", str(sample_out), "--raw", "", "-q", "--force"]) == 0
    assert {n: Store(sample_out).read(n).num_rows for n in before} == before


# --- furniture detection is not hard-coded ----------------------------------------------


def test_other_header_and_page_number_style(pdf_factory, seed_text, tmp_path):
    pdf = pdf_factory(seed_text, "other-style.pdf", header="某某市政府公报 二〇二四年 第三期", page_number_style="di_ye")
    out = tmp_path / "o"
    assert main(["ingest", str(pdf), "--out", str(out), "--raw", "", "-q"]) == 0
    removed = Store(out).read("removed").to_pylist()
    assert sum(r["reason"] == "running_header" and r["text"] == "某某市政府公报 二〇二四年 第三期" for r in removed) == 81
    assert sum(r["reason"] == "page_number" and r["text"].startswith("第") for r in removed) == 79
    texts = "\n".join(s["text"] for s in Store(out).read("sections").to_pylist())
    assert "某某市政府公报" not in texts and not re.search(r"第 \d+ 页", texts)
    assert sum(1 for s in Store(out).read("sections").to_pylist() if s["level"] in ("chapter", "section")) == 79


# --- 目录 checks on builder variants ----------------------------------------------------------


def _doc1_parts(seed: str) -> tuple[str, str, str]:
    """(before the body, document 1's body, after it)."""
    start, end = seed.index("本规划根据"), seed.index("附件：")
    return seed[:start], seed[start:end], seed[end:]


def _check(pdf_factory, text: str, name: str, tmp_path, **options) -> list[tuple]:
    out = tmp_path / name
    main(["ingest", str(pdf_factory(text, name + ".pdf", **options)), "--out", str(out), "--raw", "", "-q"])
    return [(r["status"], r["level"], r["parent_number"], r["number"], r["toc_page"], r["body_page"])
            for r in Store(out).read("toc_checks").to_pylist() if r["level"] != "document"]


def test_deleted_chapter_is_missing(pdf_factory, seed_text, tmp_path):
    head, body, tail = _doc1_parts(seed_text)
    start, end = body.index("第五章 构建科创金融体系"), body.index("第六章 推动数字金融创新")
    checks = _check(pdf_factory, head + body[:start] + body[end:] + tail, "no-ch5", tmp_path)
    missing = {(c[1], c[2], c[3]) for c in checks if c[0] == "missing"}
    assert missing == {("chapter", None, 5), ("section", 5, 1), ("section", 5, 2), ("section", 5, 3)}
    assert ("gap", "chapter", None, 6, None, None) in checks


def test_swapped_sections_are_out_of_order(pdf_factory, seed_text, tmp_path):
    head, body, tail = _doc1_parts(seed_text)
    a, b, c = (body.index(s) for s in ("第一节 培育发展科创金融支撑体系", "第二节 优化科创金融产品和服务", "第三节 创新发展知识产权金融"))
    swapped = body[:a] + body[b:c] + body[a:b] + body[c:]
    checks = _check(pdf_factory, head + swapped + tail, "swap", tmp_path)
    assert [(c[1], c[2], c[3]) for c in checks if c[0] == "out_of_order"] in ([("section", 5, 1)], [("section", 5, 2)])
    assert sum(1 for c in checks if c[0] not in ("ok", "title_mismatch")) == 1


def test_section_only_in_body_is_extra(pdf_factory, seed_text, tmp_path):
    head, body, tail = _doc1_parts(seed_text)
    at = body.index("第二章 总体要求")
    added = body[:at] + "第三节 正文新增的一节\n\n本节为正文中新增的内容，目录中没有列出。\n\n" + body[at:]
    checks = _check(pdf_factory, head + added + tail, "extra", tmp_path)
    assert [c[:4] for c in checks if c[0] == "extra"] == [("extra", "section", 1, 3)]


def test_page_references(pdf_factory, seed_text, tmp_path):
    right = _check(pdf_factory, seed_text, "pages-ok", tmp_path, toc_page_numbers=True)
    assert sum(1 for c in right if c[0] == "ok") == 78 and all(c[4] is not None for c in right)
    wrong = _check(pdf_factory, seed_text, "pages-off", tmp_path, toc_page_numbers=True, toc_page_offset=2)
    mismatched = [c for c in wrong if c[0] == "page_mismatch"]
    assert len(mismatched) == 78 and all(c[4] == c[5] + 2 for c in mismatched)


def test_document_without_toc_still_gets_numbering_checks(pdf_factory, seed_text, tmp_path):
    head, body, tail = _doc1_parts(seed_text)
    toc_start = head.index("广州市金融发展“十四五”规划\n\n目 录")
    head = head[:toc_start] + "广州市金融发展“十四五”规划\n\n"
    start, end = body.index("第五章 构建科创金融体系"), body.index("第六章 推动数字金融创新")
    checks = _check(pdf_factory, head + body[:start] + body[end:] + tail, "no-toc", tmp_path)
    assert [c[:4] for c in checks] == [("gap", "chapter", None, 6)]


# --- tables built by the fixture builder --------------------------------------------------

FILLER = "\n\n".join(["这是用于填充版面的正文段落，使表格落在页面底部附近，从而跨页显示。" * 4] * 5)


def _table_md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _ingest_text(pdf_factory, text: str, name: str, tmp_path, **options) -> Path:
    out = tmp_path / name
    assert main(["ingest", str(pdf_factory(text, name + ".pdf", **options)), "--out", str(out), "--raw", "", "-q"]) == 0
    return out


def test_row_split_mid_row_is_rejoined(pdf_factory, tmp_path):
    long_cell = "跨页的长单元格内容，" * 30
    rows = [[str(i), f"项目{i}" + (long_cell if i in (6, 7) else ""), f"单位{i}"] for i in range(1, 13)]
    text = FILLER + "\n\n重点项目表\n\n" + _table_md(["序号", "项目", "单位"], rows) + "\n"
    out = _ingest_text(pdf_factory, text, "split-row", tmp_path, split_rows=True)
    tables = Store(out).read("tables").to_pylist()
    assert len(tables) == 1 and tables[0]["n_rows"] == 12 and tables[0]["page_end"] > tables[0]["page_start"]
    cells = {(c["row"], c["col"]): c["value"] for c in Store(out).read("table_cells").to_pylist()}
    assert [cells[(i, 0)] for i in range(12)] == [str(i) for i in range(1, 13)]
    assert cells[(5, 1)] == "项目6" + long_cell
    assert cells[(6, 1)] == "项目7" + long_cell


def test_two_tables_on_consecutive_pages_stay_two(pdf_factory, tmp_path):
    first = _table_md(["年份", "金额"], [[str(2000 + i), str(100 * i)] for i in range(1, 25)])
    second = _table_md(["地区", "面积", "备注"], [[f"区{i}", str(i), "无"] for i in range(1, 6)])
    third = _table_md(["指标", "数值"], [["增长率", "5"], ["总量", "7"]])
    text = f"{FILLER}\n\n表一\n\n{first}\n\n[[pagebreak]]\n\n{second}\n\n[[pagebreak]]\n\n{third}\n"
    out = _ingest_text(pdf_factory, text, "two-tables", tmp_path)
    headers = [t["header"] for t in sorted(Store(out).read("tables").to_pylist(), key=lambda t: t["table_id"])]
    assert ["地区", "面积", "备注"] in headers and ["指标", "数值"] in headers
    assert sum(1 for h in headers if h == ["年份", "金额"]) == 1


def test_merged_cell_and_numeric_column(pdf_factory, tmp_path):
    rows = [["广州", "天河", "1,234.5", "12.5%"], ["^^", "海珠", "88", "3.7亿元"], ["深圳", "南山", "10", "1%"]]
    text = "面积统计\n\n" + _table_md(["城市", "区", "面积", "增长率"], rows) + "\n"
    out = _ingest_text(pdf_factory, text, "merged", tmp_path)
    table = Store(out).read("tables").to_pylist()[0]
    cells = {(c["row"], c["col"]): c["value"] for c in Store(out).read("table_cells").to_pylist()}
    assert cells[(1, 0)] == "广州"  # the row span is filled downwards
    typed = Store(out).read_table_file(table["doc_id"], table["table_id"])
    assert typed.schema.field("面积").type == "double" and typed.column("面积").to_pylist() == [1234.5, 88.0, 10.0]
    assert typed.schema.field("增长率").type == "string"
    assert table["caption"] == "面积统计"


# --- real corpus PDFs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "out"
    assert main(["ingest", str(CORPUS / "pdf"), "--out", str(out), "--raw", "", "-q"]) == 0
    return out


def test_corpus_continuations_without_repeated_header(corpus_out):
    docs = {d["doc_id"]: d["source"] for d in Store(corpus_out).read("documents").to_pylist()}
    tables = [t for t in Store(corpus_out).read("tables").to_pylist() if "social_work" in docs[t["doc_id"]]]
    spans = sorted((t["page_start"], t["page_end"], t["n_rows"]) for t in tables)
    # counted on the pages: p6-7, p8-9 and p10-11 continue without a repeated header
    assert spans == [(4, 4, 2), (5, 5, 30), (6, 7, 18), (8, 9, 18), (10, 11, 32), (12, 12, 18), (13, 13, 67),
                     (14, 14, 1), (15, 15, 4), (16, 16, 4)]


def test_identical_table_on_next_page_is_not_merged(corpus_out):
    docs = Store(corpus_out).read("documents").to_pylist()
    camelot = next(d["doc_id"] for d in docs if d["source"].endswith("fixture_camelot_hybrid_multipage.pdf"))
    tables = [t for t in Store(corpus_out).read("tables").to_pylist() if t["doc_id"] == camelot]
    assert sorted((t["page_start"], t["page_end"], t["n_rows"]) for t in tables) == [(1, 1, 5), (2, 2, 5)]


def test_corpus_toc_finds_the_missing_part(corpus_out):
    rows = Store(corpus_out).read("toc_checks").to_pylist()
    docs = {d["doc_id"]: d["source"] for d in Store(corpus_out).read("documents").to_pylist()}
    bad = [r for r in rows if "social_work" in docs[r["doc_id"]] and r["status"] == "missing"]
    assert [(r["level"], r["number"]) for r in bad] == [("part", 2)]
    good = [r for r in rows if "finance_bureau" in docs[r["doc_id"]]]
    assert {r["status"] for r in good} == {"ok"} and len(good) == 4


def test_law_as_pdf_chapters_articles_and_toc(pdf_factory, tmp_path):
    """A law (no 文号 header): the 监察法 text of the corpus page typeset as a PDF with a 目录."""
    from pipeline.ingest import process_source

    law = process_source(CORPUS / "html" / "law_supervision_law_2018_html_chapters_articles.html").documents[0]
    chapters = [s.heading for s in law.sections if s.level == "chapter"]
    body = [s.heading if s.level == "chapter" else f"{s.heading}　{s.text.replace(chr(10), '')}"
            for s in law.sections if s.level in ("chapter", "article")]
    text = "\n\n".join(["中华人民共和国监察法", "目 录", *chapters, *body]) + "\n"
    out = _ingest_text(pdf_factory, text, "law", tmp_path, header="中华人民共和国监察法", page_number_style="hyphen")
    doc = Store(out).read("documents").to_pylist()[0]
    assert doc["title"] == "中华人民共和国监察法" and doc["toc_complete"] is True
    sections = Store(out).read("sections").to_pylist()
    assert [s["number"] for s in sections if s["level"] == "chapter"] == list(range(1, 10))
    articles = [s["number"] for s in sections if s["level"] == "article"]
    assert articles == list(range(1, len(articles) + 1)) and len(articles) == 69
    assert {r["status"] for r in Store(out).read("toc_checks").to_pylist()} == {"ok"}
