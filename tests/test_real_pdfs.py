"""Real PDFs from other producers, with expectations checked by hand against the pages.

The two 上海市普陀区 部门决算 files (ONLYOFFICE) and camelot's hybrid_multipage fixture
(``tests/data/corpus/README.md``). Every value below was read off the page rendered at
2x (pypdfium2), not copied from the pipeline's output: per table its caption (the title
printed above the grid), header names (stacked header rows folded top down), row count
and a few cells; per document its headings. Where the pipeline still reads a heading
wrong, the test fails.
"""

from __future__ import annotations

import pytest

from pipeline.model import Document
from pipeline.process import process_pdf
from pipeline.rows import column_names
from tests.conftest import CORPUS

FINANCE = CORPUS / "pdf" / "gov_shanghai_putuo_finance_bureau_2024_final_accounts.pdf"
SOCIAL_WORK = CORPUS / "pdf" / "gov_shanghai_putuo_social_work_dept_2024_final_accounts.pdf"
CAMELOT = CORPUS / "pdf" / "fixture_camelot_hybrid_multipage.pdf"


def _document(path) -> Document:
    [doc] = process_pdf(path, source=str(path), raw_sha256="0" * 64).documents
    return doc


@pytest.fixture(scope="module")
def finance() -> Document:
    return _document(FINANCE)


@pytest.fixture(scope="module")
def social_work() -> Document:
    return _document(SOCIAL_WORK)


def _tables(doc: Document) -> list[tuple]:
    return [(t.table_id, t.page_start, t.page_end, t.caption, t.header, t.n_rows) for t in doc.tables]


# --- header names as printed ---------------------------------------------------------------

CODE_3 = [f"项目/支出功能分类/科目编码/{level}" for level in "类款项"]  # 科目编码 over 类 | 款 | 项
INCOME_EXPENSE = ["收入/项目", "收入/决算数", "支出/项目", "支出/决算数"]
GRANT_TOTAL = ["收入/项目", "收入/决算数", "支出/项目", "支出/合计", "支出/一般公共预算财政拨款",
               "支出/政府性基金预算财政拨款", "支出/国有资本经营预算财政拨款"]
INCOME = ["本年收入合计", "财政拨款收入", "上级补助收入", "事业收入", "经营收入", "附属单位上缴收入", "其他收入"]
EXPENSE = ["本年支出合计", "基本支出", "项目支出", "上缴上级支出", "经营支出", "对附属单位补助支出"]
FUND = ["年初结转和结余", "本年收入", "本年支出/小计", "本年支出/基本支出", "本年支出/项目支出", "年末结转和结余"]


def three_public(vehicles: str, running: str) -> list[str]:
    """财政拨款“三公”经费支出决算表: five header rows (finance bureau p.18, social work p.14)."""
    groups = ["合计", "因公出国（境）费", f"{vehicles}/小计", f"{vehicles}/公务用车购置费", f"{vehicles}/{running}",
              "公务接待费"]
    return [f"财政拨款“三公”经费/{g}/{level}" for g in groups for level in ("预算数", "决算数")]


# --- 上海市普陀区财政局 2024 年度部门决算 (25 pages) ----------------------------------------------

FINANCE_TABLES = [
    ("t1", 5, 5, None, ["序号", "单位名称", "备注"], 3),  # under "…单位包括：", no title of its own
    ("t2", 6, 7, "收入支出决算总表", INCOME_EXPENSE, 30),
    ("t3", 8, 9, "收入决算表", [*CODE_3, "项目/科目名称", *INCOME], 20),
    ("t4", 10, 11, "支出决算表", [*CODE_3, "项目/科目名称", *EXPENSE], 20),
    ("t5", 12, 14, "财政拨款收入支出决算总表", GRANT_TOTAL, 33),  # p.14 holds one blank row
    ("t6", 15, 15, "一般公共预算财政拨款支出决算表", [*CODE_3, "项目/科目名称", "合计", "基本支出", "项目支出"], 20),
    # printed as two panels side by side (人员经费 | 公用经费) under the same header
    ("t7", 16, 17, "一般公共预算财政拨款基本支出决算表", ["经济分类/科目编码/类", "经济分类/科目编码/款", "科目名称", "决算数"], 66),
    ("t8", 18, 18, "财政拨款“三公”经费支出决算表", three_public("公务用车购置及运行费", "公务用车运行费"), 1),
    ("t9", 19, 19, "政府性基金预算财政拨款收入支出决算表",
     [*[f"项目/支出功能分类科目编码/{level}" for level in "类款项"], "项目/科目名称", *FUND], 9),
    ("t10", 20, 20, "国有资本经营预算财政拨款收入支出决算表",
     [*[f"项目/支出功能分类科目编码/{level}" for level in "类款项"], "项目/科目名称", *FUND], 9),
]

FINANCE_ROWS = {
    ("t1", 1): ["2", "上海市普陀区财政局财政所", "预算不单列，并入本级"],
    ("t2", 0): ["一、一般公共预算财政拨款收入", "2,940.05", "一、一般公共服务支出", "2,106.66"],
    ("t2", 7): ["八、其他收入", "6.20", "八、社会保障和就业支出", "326.71"],
    ("t2", 29): ["总计", "2,995.39", "总计", "2,995.39"],  # p.7
    # the 类 | 款 | 项 sub-header shares its grid row with 合计: the row keeps the sums
    ("t3", 0): ["", "", "", "合计", "2,946.25", "2,940.05", "", "", "", "", "6.20"],
    ("t3", 4): ["201", "06", "02", "一般行政管理事务", "16.19", "10.00", "", "", "", "", "6.19"],
    ("t3", 19): ["221", "02", "03", "购房补贴", "258.50", "258.50", "", "", "", "", ""],  # p.9
    ("t4", 0): ["", "", "", "合计", "2,940.05", "2,336.91", "603.14", "", "", ""],
    ("t4", 3): ["201", "06", "01", "行政运行", "1,511.89", "1,503.52", "8.37", "", "", ""],
    # two rows of their own across the break p.12 / p.13 (the 收入 side blank beside them)
    ("t5", 12): ["", "", "十三、交通运输支出", "", "", "", ""],
    ("t5", 13): ["", "", "十四、资源勘探工业信息等支出", "", "", "", ""],
    ("t5", 27): ["年初财政拨款结转和结余", "21.63", "年末财政拨款结转和结余", "21.63", "21.63", "", ""],
    ("t5", 31): ["总计", "2,961.68", "总计", "2,961.68", "2,961.68", "", ""],
    ("t5", 32): [""] * 7,
    ("t6", 0): ["201", "", "", "一般公共服务支出", "2,106.66", "1,503.52", "603.14"],
    ("t6", 19): ["合计", "合计", "合计", "合计", "2,940.05", "2,336.91", "603.14"],
    ("t7", 0): ["301", "", "工资福利支出", "2,082.85"],
    ("t7", 25): ["303", "99", "其他对个人和家庭的补助", ""],  # p.17, left panel
    ("t7", 26): ["人员经费合计", "人员经费合计", "人员经费合计", "2,152.26"],
    ("t7", 27): ["302", "", "商品和服务支出", "171.07"],  # p.16, right panel
    ("t7", 65): ["公用经费合计", "公用经费合计", "公用经费合计", "184.65"],
    ("t8", 0): ["0.95", "", "", "", "", "", "", "", "", "", "0.95", ""],
    ("t9", 0): [""] * 10,
    ("t9", 8): ["合计", "合计", "合计", "合计", "", "", "", "", "", ""],
}

# --- 中共上海市普陀区委社会工作部 2024 年度部门决算 (24 pages) --------------------------------------

CODE_1 = ["项目/功能分类科目编码", "项目/科目名称"]  # one 功能分类科目编码 column (7-digit codes)

SOCIAL_WORK_TABLES = [
    ("t1", 4, 4, None, ["序号", "单位名称", "备注"], 2),
    ("t2", 5, 5, "收入支出决算总表", INCOME_EXPENSE, 30),
    ("t3", 6, 7, "收入决算表", [*CODE_1, *INCOME], 18),
    ("t4", 8, 9, "支出决算表", [*CODE_1, *EXPENSE], 18),
    ("t5", 10, 11, "财政拨款收入支出决算总表", GRANT_TOTAL, 32),
    ("t6", 12, 12, "一般公共预算财政拨款支出决算表", [*CODE_1, "合计", "基本支出", "项目支出"], 18),
    ("t7", 13, 13, "一般公共预算财政拨款基本支出决算表", ["经济分类科目编码", "科目名称", "决算数"], 67),
    ("t8", 14, 14, "财政拨款“三公”经费支出决算表", three_public("公务用车购置及运行维护费", "公务用车运行维护费"), 1),
    # 合计 | 基本支出 | 项目支出 under 本年支出 are printed in the 合计 row
    ("t9", 15, 15, "政府性基金预算财政拨款收入支出决算表",
     [*CODE_1, "年初结转和结余", "本年收入", "本年支出/合计", "本年支出/基本支出", "本年支出/项目支出", "年末结转和结余"], 4),
    ("t10", 16, 16, "国有资本经营预算财政拨款收入支出决算表",
     [*CODE_1, "年初结转和结余", "本年收入", "本年支出/合计", "本年支出/基本支出", "本年支出/项目支出", "年末结转和结余"], 4),
]

SOCIAL_WORK_ROWS = {
    ("t2", 8): ["", "", "九、卫生健康支出", "2.71"],
    ("t2", 29): ["总计", "307.82", "总计", "307.82"],
    ("t3", 0): ["合计", "合计", "307.82", "307.82", "", "", "", "", ""],
    ("t3", 12): ["2101101", "行政单位医疗", "2.22", "2.22", "", "", "", "", ""],  # first row of p.7
    ("t4", 5): ["2013999", "其他社会工作事务支出", "202.24", "", "202.24", "", "", ""],
    ("t5", 14): ["", "", "十五、商业服务业等支出", "", "", "", ""],  # last row of p.10
    ("t5", 15): ["", "", "十六、金融支出", "", "", "", ""],  # first row of p.11
    ("t5", 31): ["总计", "307.82", "总计", "307.82", "307.82", "", ""],
    ("t6", 7): ["2080505", "机关事业单位基本养老保险缴费支出", "6.18", "6.18", ""],
    ("t6", 17): ["合计", "合计", "307.82", "105.58", "202.24"],
    ("t7", 6): ["30108", "机关事业单位基本养老保险缴费", "6.18"],
    ("t7", 27): ["人员经费合计", "人员经费合计", "95.36"],
    ("t7", 28): ["302", "商品和服务支出", "10.23"],
    ("t7", 66): ["公用经费合计", "公用经费合计", "10.23"],
    ("t8", 0): [""] * 12,  # 故本表无数据
    ("t9", 0): ["合计", "合计", "", "", "", "", "", ""],
    ("t9", 3): [""] * 8,
}

# words of the printed header rows that must not be left among the data
HEADER_WORDS = {"类", "款", "项", "预算数", "决算数", "小计", "科目编码", "功能分类科目编码", "支出功能分类科目编码",
                "经济分类科目编码", "科目名称", "项目", "本年支出", "财政拨款“三公”经费"}


@pytest.mark.parametrize(("which", "expected"), [("finance", FINANCE_TABLES), ("social_work", SOCIAL_WORK_TABLES)])
def test_tables_captions_headers_and_row_counts(request, which, expected):
    assert _tables(request.getfixturevalue(which)) == expected


@pytest.mark.parametrize(("which", "cells"), [("finance", FINANCE_ROWS), ("social_work", SOCIAL_WORK_ROWS)])
def test_table_rows_as_printed(request, which, cells):
    tables = {t.table_id: t for t in request.getfixturevalue(which).tables}
    assert {key: tables[key[0]].rows[key[1]] for key in cells} == cells


@pytest.mark.parametrize("which", ["finance", "social_work"])
def test_no_shared_column_names_and_no_header_words_in_the_data(request, which):
    """Finding 6: 财政拨款“三公”经费 ×12 stored as …_2 … …_12, header rows left as data rows."""
    for table in request.getfixturevalue(which).tables:
        names = column_names(table)
        assert len(set(names)) == len(names) and not any(n.endswith("_2") for n in names), table.table_id
        assert not {cell for row in table.rows for cell in row} & HEADER_WORDS, table.table_id


@pytest.mark.parametrize(("which", "pages"), [("finance", (1, 25)), ("social_work", (1, 24))])
def test_document_page_range(request, which, pages):
    doc = request.getfixturevalue(which)
    assert (doc.page_start, doc.page_end) == pages


# --- headings ------------------------------------------------------------------------------

# Both reports print the Shanghai 部门决算 template: part 1's two items, part 3's eleven, the
# 名词解释 of part 4, and the same sub-headings where both have them
PART_1_ITEMS = [("item", 1, "主要职能"), ("item", 2, "部门决算单位构成")]
PART_3_ITEMS = [("item", n, title) for n, title in enumerate([
    "收入支出决算总体情况说明", "收入决算情况说明", "支出决算情况说明", "财政拨款收入支出决算总体情况说明",
    "一般公共预算财政拨款支出决算情况说明", "一般公共预算财政拨款基本支出决算情况说明", "财政拨款“三公”经费支出决算情况说明",
    "政府性基金预算财政拨款收入支出决算情况说明", "国有资本经营预算财政拨款收入支出决算情况说明", "预算绩效管理情况",
    "其他重要事项的情况说明"], start=1)]
GLOSSARY = [("part", 4, "名词解释"), *(("item", n, term) for n, term in enumerate([
    "财政拨款收入", "事业收入", "经营收入", "其他收入", "年初结转和结余", "年末结转和结余", "基本支出", "项目支出",
    "经营支出", "“三公”经费", "机关运行经费"], start=1))]
SPENDING_SUBITEMS = [("subitem", 1, "一般公共预算财政拨款支出决算总体情况"), ("subitem", 2, "一般公共预算财政拨款支出决算结构情况"),
                     ("subitem", 3, "一般公共预算财政拨款支出决算具体情况")]
OTHER_MATTERS_SUBITEMS = [("subitem", 1, "机关运行经费支出情况"), ("subitem", 2, "政府采购支出情况"),
                          ("subitem", 3, "国有资产占有使用情况说明")]


def _points(*titles: str) -> list[tuple]:
    return [("point", n, title) for n, title in enumerate(titles, start=1)]


FINANCE_PARTS_AND_ITEMS = [
    ("part", 1, "上海市普陀区财政局概况"), *PART_1_ITEMS,
    ("part", 2, "上海市普陀区财政局2024年度部门决算表"),  # its tables carry unnumbered titles
    ("part", 3, "上海市普陀区财政局2024年度部门决算情况说明"), *PART_3_ITEMS,
    *GLOSSARY,
]

# part 3, pp.21-24: the items' sub-headings (（一）…, 1、…), in print order
FINANCE_PART_3 = [
    *PART_3_ITEMS[:5], *SPENDING_SUBITEMS,
    *_points("一般公共服务支出（类）财政事务（款）行政运行（项）",
             "一般公共服务支出（类）财政事务（款）一般行政管理事务（项）",
             "一般公共服务支出（类）财政事务（款）信息化建设（项）",
             "一般公共服务支出（类）财政事务（款）财政委托业务支出（项）",
             "社会保障和就业支出（类）行政事业单位养老支出（款）行政单位离退休（项）",
             "社会保障和就业支出（类）行政事业单位养老支出（款）机关事业单位基本养老保险缴费支出（项）",
             "社会保障和就业支出（类）行政事业单位养老支出（款）机关事业单位职业年金缴费支出（项）",
             "社会保障和就业支出（类）行政事业单位养老支出（款）其他行政事业单位养老支出（项）",
             "卫生健康支出（类）行政事业单位医疗（款）行政单位医疗（项）",
             "住房保障支出（类）住房改革支出（款）住房公积金（项）",
             "住房保障支出（类）住房改革支出（款）购房补贴（项）"),
    *PART_3_ITEMS[5:7],
    ("subitem", 1, "“三公”经费财政拨款支出决算总体情况说明"), ("subitem", 2, "“三公”经费财政拨款支出决算具体情况说明"),
    *PART_3_ITEMS[7:], *OTHER_MATTERS_SUBITEMS,
]

SOCIAL_WORK_PARTS_AND_ITEMS = [
    ("part", 1, "中共上海市普陀区委社会工作部概况"), *PART_1_ITEMS,
    # p.5 prints the tables' part without its 第二部分 label (the 目录 check reports it missing)
    ("part", 3, "中共上海市普陀区委社会工作部2024年度部门决算情况说明"), *PART_3_ITEMS,
    *GLOSSARY,
]

SOCIAL_WORK_PART_3 = [
    *PART_3_ITEMS[:5], *SPENDING_SUBITEMS,
    *_points("一般公共服务支出（类）社会工作事务（款）行政运行（项）",
             "一般公共服务支出（类）社会工作事务（款）事业运行（项）",
             "一般公共服务支出（类）社会工作事务（款）其他社会工作事务支出（项）",
             "社会保障和就业支出（类）行政事业单位养老支出（款）机关事业单位基本养老保险缴费支出（项）",
             "社会保障和就业支出（类）行政事业单位养老支出（款）机关事业单位职业年金缴费支出（项）",
             "卫生健康支出（类）行政事业单位医疗（款）行政单位医疗（项）",
             "卫生健康支出（类）行政事业单位医疗（款）事业单位医疗（项）",
             "住房保障支出（类）住房改革支出（款）住房公积金（项）",
             "住房保障支出（类）住房改革支出（款）购房补贴（项）"),
    *PART_3_ITEMS[5:], *OTHER_MATTERS_SUBITEMS,
]


def _headings(doc: Document, levels: set[str]) -> list[tuple]:
    return [(s.level, s.number, s.title) for s in doc.sections if s.level in levels]


def _part(doc: Document, number: int) -> list[tuple]:
    """The headings under part ``number`` (第X部分), up to the next part."""
    out, inside = [], False
    for s in doc.sections:
        if s.level == "part":
            inside = s.number == number
        elif inside:
            out.append((s.level, s.number, s.title))
    return out


HEADING_CASES = {
    "finance_parts": ("finance", lambda d: _headings(d, {"part", "item"}), FINANCE_PARTS_AND_ITEMS),
    "finance_part_3": ("finance", lambda d: _part(d, 3), FINANCE_PART_3),
    "social_work_parts": ("social_work", lambda d: _headings(d, {"part", "item"}), SOCIAL_WORK_PARTS_AND_ITEMS),
    "social_work_part_3": ("social_work", lambda d: _part(d, 3), SOCIAL_WORK_PART_3),
}


@pytest.mark.parametrize("case", sorted(HEADING_CASES))
def test_headings_as_printed(request, case):
    which, read, expected = HEADING_CASES[case]
    assert read(request.getfixturevalue(which)) == expected


def test_second_item_of_part_one_sits_beside_the_first(finance):
    """一、主要职能 quotes a regulation (第一条…第三条): 二、 is 一、's sibling, not 第三条's child."""
    by_seq = {s.seq: s for s in finance.sections}
    item = next(s for s in finance.sections if s.level == "item" and s.title == "部门决算单位构成")
    assert by_seq[item.parent_seq].level == "part" and by_seq[item.parent_seq].number == 1


# --- camelot hybrid_multipage: the same table printed on two pages ---------------------------


def test_an_identical_table_on_the_next_page_is_a_second_table():
    """Four rows under a rule below Hello | Goodbye | World, printed again on p.2: no rulings
    around the cells, so two borderless tables of five rows (the header row among them)."""
    doc = _document(CAMELOT)
    assert [(t.page_start, t.page_end, t.kind, t.n_rows) for t in doc.tables] == [(1, 1, "borderless", 5), (2, 2, "borderless", 5)]
    for table in doc.tables:
        assert table.rows[0] == ["Hello", "Goodbye", "World"] and table.rows[4] == ["4", "Chonk", "Bonk"]
