"""Each stage on a few lines of text: cleaning, layout, outline, tables, 目录."""

from __future__ import annotations

import re

import pytest

from pipeline.chinese import cn_to_int, int_to_cn, parse_heading
from pipeline.clean import clean_pages, is_watermark, page_number_value
from pipeline.extract.chars import Char, chars_to_lines
from pipeline.extract.pdf import SPANNED
from pipeline.issue import doc_number_alone, issue_id, parse_issue_toc, parse_toc_blocks, split_issue
from pipeline.layout import build_blocks
from pipeline.model import Block, BlockKind, Layer, Line, Page, PageTable, Table
from pipeline.outline import build_sections
from pipeline.settings import Settings, resolve
from pipeline.tables import (
    Merged,
    Piece,
    caption_for,
    clean_cell,
    merge_across_pages,
    normalise_grid,
    panel_width,
    to_table,
)
from pipeline.toc import check_document, numbering_checks

# --- helpers ---------------------------------------------------------------------------

W, H = 595.0, 842.0
LEFT, RIGHT, SIZE = 70.0, 526.0, 12.0


def line(text: str, page: int, top: float, x0: float = LEFT, size: float = SIZE, x1: float | None = None) -> Line:
    x1 = x1 if x1 is not None else min(RIGHT, x0 + len(text) * size)
    return Line(text, page, (x0, top, x1, top + size), size)


def para_lines(text: str, page: int, top: float, per_line: int = 38) -> list[Line]:
    """A paragraph set like print: first line indented two characters, then full lines."""
    out, first = [], True
    while text:
        width = per_line - (2 if first else 0)
        chunk, text = text[:width], text[width:]
        x0 = LEFT + (2 * SIZE if first else 0)
        x1 = RIGHT if text else x0 + len(chunk) * SIZE
        out.append(line(chunk, page, top, x0, x1=x1))
        top += 20
        first = False
    return out


def page(no: int, lines: list[Line], tables: list[PageTable] | None = None) -> Page:
    return Page(no, W, H, lines, tables or [])


# --- settings ---------------------------------------------------------------------------


def test_settings_reject_unknown_keys():
    with pytest.raises(ValueError, match="unknown settings: colour"):
        resolve({"colour": 1})
    assert resolve({"max_pages": 5}).max_pages == 5


# --- extraction helpers --------------------------------------------------------------------


def test_chars_to_lines_splits_segments_and_keeps_cjk_unspaced():
    chars = [Char(c, 70 + 12 * i, 82 + 12 * i, 100, 12) for i, c in enumerate("主管单位")]
    chars += [Char(c, 300 + 12 * i, 312 + 12 * i, 100, 12) for i, c in enumerate("国内刊号")]
    chars += [Char(c, 70 + 6 * i, 76 + 6 * i, 130, 12) for i, c in enumerate("ab")] + [Char("c", 90, 96, 130, 12)]
    lines = chars_to_lines(chars, 1)
    assert [ln.text for ln in lines] == ["主管单位", "国内刊号", "ab c"]
    assert lines[1].bbox[0] == 300


# --- cleaning ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["（本文与正式文件同等效力）", "(本文与正式文件同等效力)", "（本文与正式文件同效力）", "本文与正式文件同等效力",
     "( 本文与正式文件 同等效力 )", "【本文与正式文件同等的效力】", "（本文与正式文件具有同等效力）"],
)
def test_watermark_variants(text):
    assert is_watermark(text)


@pytest.mark.parametrize("text", ["本文与正式文件同等效力，特此说明如下：各单位应当遵守", "正式文件", "同等效力",
                                  "本文件与正式文本具有同等法律效力"])
def test_not_watermark(text):
    assert not is_watermark(text)


@pytest.mark.parametrize(("text", "value"), [("— 12 —", 12), ("- 3 -", 3), ("第 7 页", 7), ("5", 5), ("3/25", 3),
                                             ("第2页 共9页", 2), ("2021年", None), ("十二", None)])
def test_page_number_patterns(text, value):
    assert page_number_value(text) == value


def test_unseen_header_found_by_repetition_and_position():
    pages = []
    for n in range(1, 6):
        lines = [line("某某县政府公报 第3期", n, 40, 230, 9), line("正文内容" * 5, n, 300), line(f"·{n}·", n, 800, 290, 10)]
        if n == 3:
            lines.append(line("某某县政府公报 第3期", n, 400))  # the same text in the body is not furniture
        pages.append(page(n, lines))
    cleaned = clean_pages(pages, Settings())
    reasons = [(ln.text, ln.reason) for p in cleaned for ln in p.lines if ln.layer is not Layer.BODY]
    assert reasons.count(("某某县政府公报 第3期", "running_header")) == 5
    assert sum(1 for _, r in reasons if r == "page_number") == 5
    assert [p.printed_no for p in cleaned] == [1, 2, 3, 4, 5]
    assert any(ln.text == "某某县政府公报 第3期" and ln.layer is Layer.BODY for ln in cleaned[2].lines)


def test_table_numbers_near_the_foot_are_not_page_numbers():
    table = PageTable(1, (60, 700, 530, 790), (("1", "a"),), (60, 100, 530))
    p = page(1, [line("正文" * 10, 1, 300), line("40", 1, 770, 70, 12, 82)], [table])
    assert all(ln.layer is Layer.BODY for ln in clean_pages([p], Settings())[0].lines)


# --- layout -----------------------------------------------------------------------------


def test_wrapped_lines_join_without_spaces_and_paragraphs_split_on_indent():
    lines = para_lines("甲" * 60 + "。", 1, 100) + para_lines("乙" * 10 + "。", 1, 200)
    blocks = build_blocks([page(1, lines)])
    assert [b.text for b in blocks] == ["甲" * 60 + "。", "乙" * 10 + "。"]


def test_paragraph_continues_across_page_break_past_furniture():
    first = para_lines("为缓解中" * 19, 1, 600)[:2]
    first[-1] = line("融资难题，我市出台了多项措施为缓解中", 1, 620, LEFT, x1=RIGHT - 40)  # stops mid-sentence
    p1 = page(1, [*first, Line("（本文与正式文件同等效力）", 1, (200, 760, 380, 772), 11, Layer.BACKGROUND, "watermark")])
    p2 = page(2, [Line("某公报", 2, (250, 40, 300, 49), 9, Layer.FURNITURE, "running_header"),
                  line("小微企业融资难题，我市出台创新举措。", 2, 80)])
    text = build_blocks([p1, p2])[0].text
    assert "为缓解中小微企业融资难题" in text
    assert "本文与正式文件" not in text


def test_next_page_heading_or_indent_starts_a_new_paragraph():
    p1 = page(1, [line("这是一段结束的正文内容" * 3, 1, 600, x1=RIGHT)])
    p2 = page(2, [line("第二节 发展目标", 2, 80, 230)])
    assert len(build_blocks([p1, p2])) == 2


# --- outline ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [("十二", 12), ("一百零五", 105), ("二十", 20), ("十五", 15), ("二〇二一", 2021),
                                             ("九十九", 99), ("两", 2), ("7", 7)])
def test_chinese_numerals(text, value):
    assert cn_to_int(text) == value


@pytest.mark.parametrize(
    ("text", "level", "number", "title"),
    [
        ("第一编 总则", "part", 1, "总则"),
        ("第十二章 优化金融营商环境，提升金融发展能力", "chapter", 12, "优化金融营商环境，提升金融发展能力"),
        ("第一章　总　则", "chapter", 1, "总则"),
        ("第3节 发展目标", "section", 3, "发展目标"),
        ("第一百零五条　监察机关应当依法", "article", 105, ""),
        ("一、实施范围", "item", 1, "实施范围"),
        ("（二）基本原则。", "subitem", 2, "基本原则"),
        ("(三)目标任务。建立和健全科学的", "subitem", 3, "目标任务"),
        ("2. 强农富农。结合精准扶贫", "point", 2, "强农富农"),
        ("（1）管护人员经费，包括管护人员工资、办公费用等。管护人员负责巡护森林", "subpoint", 1, ""),
    ],
)
def test_heading_grammar(text, level, number, title):
    h = parse_heading(text, set_apart=True)
    assert (h.level, h.number, h.title) == (level, number, title)


@pytest.mark.parametrize("text", ["第一章规定的事项应当遵守。", "2020年全市金融业增加值2234亿元，居全国大城市第四位。", "11 家合作银行机构已授信"])
def test_sentences_are_not_headings(text):
    assert parse_heading(text, set_apart=True) is None


def test_chapter_heading_needs_to_stand_alone():
    assert parse_heading("第三章 共建粤港澳大湾区国际金融枢纽，增强金融资源配置能力", set_apart=False) is None


def test_section_tree_parents_paths_and_table_placeholder():
    blocks = [Block(BlockKind.PARAGRAPH, t, 1, 1, set_apart=len(t) < 20) for t in
              ["前言正文。", "第一章 发展基础", "第一节 成就", "一、综合实力", "正文一。", "第二章 总体要求", "正文二。"]]
    table = Table("t1", ["年份", "金额"], [["2021", "1"]])
    blocks.insert(5, Block(BlockKind.TABLE, "", 1, 1, table=table))
    sections = build_sections(blocks)
    got = [(s.seq, s.level, s.parent_seq, s.path) for s in sections]
    assert got == [(0, "front", None, ""), (1, "chapter", None, "第一章"), (2, "section", 1, "第一章/第一节"),
                   (3, "item", 2, "第一章/第一节/一"), (4, "chapter", None, "第二章")]
    assert sections[3].text == "正文一。\n[表 1]"
    assert table.section_seq == 3


# --- tables -----------------------------------------------------------------------------


def test_cell_text_joins_cjk_and_keeps_latin_spaces():
    assert clean_cell("市地方金融监管\n局、南沙区政府") == "市地方金融监管局、南沙区政府"
    assert clean_cell("Guangzhou Futures\nExchange") == "Guangzhou Futures Exchange"
    assert clean_cell("合计\u3000金额\n（本文与正式文件同等效力）") == "合计金额"


def test_merged_cells_are_filled():
    grid = normalise_grid([("地区", "面积", "金额"), ("广州", "1", "2"), (SPANNED, "3", "4"), ("合计", SPANNED, "9")])
    assert grid == [["地区", "面积", "金额"], ["广州", "1", "2"], ["广州", "3", "4"], ["合计", "合计", "9"]]


def _table(page_no, top, bottom, rows, edges=(70, 110, 400, 526), cut_cells=()):
    return PageTable(page_no, (70, top, 526, bottom), tuple(tuple(r) for r in rows), tuple(edges), cut_cells=cut_cells)


def test_continuation_drops_repeated_header_and_joins_cut_row():
    header = ("序号", "重点项目和工作", "责任单位")
    foot = [header, ("1", "甲项目", "市金融局"), ("2", "乙项目", "市财政")]
    p1 = page(1, [line("正文" * 5, 1, 100)], [_table(1, 400, 780, foot, cut_cells=(1, 2))])
    p2 = page(2, [], [_table(2, 70, 300, [header, ("", "（续）", "、区政府"), ("3", "丙项目", "市商务局")])])
    merged, regions = merge_across_pages([p1, p2], Settings())
    assert len(merged) == 1 and len(regions) == 2
    assert merged[0].header == list(header)
    assert [r[0] for r in merged[0].rows] == ["1", "2", "3"]
    assert merged[0].rows[1] == ["2", "乙项目（续）", "市财政、区政府"]


def test_a_row_with_an_empty_key_cell_under_a_complete_row_is_its_own_row():
    """Statutory tables leave the 收入 side blank beside 支出 items (财政拨款收入支出决算总表,
    finance bureau p12-13): the first row overleaf is a row of its own when no cell at the
    foot of the page before ended in a full line."""
    header = ("收入项目", "决算数", "支出项目")
    p1 = page(1, [], [_table(1, 400, 780, [header, ("一、财政拨款", "9", "一、一般公共服务支出"), ("", "", "十三、交通运输支出")],
                             cut_cells=(1,))])
    p2 = page(2, [], [_table(2, 70, 300, [("", "", "十四、资源勘探工业信息等支出"), ("总计", "9", "总计")])])
    [table], _ = merge_across_pages([p1, p2], Settings())
    assert [r[2] for r in table.rows] == ["一、一般公共服务支出", "十三、交通运输支出", "十四、资源勘探工业信息等支出", "总计"]


def test_a_merged_label_cut_by_the_page_break_is_joined_before_it_is_filled_down():
    """A CSRC industry list: the 门类 label spans its 大类 rows and wraps at the page break
    (``居民服务、修理和`` / ``其他服务业(O)``); both parts are one label on every row."""
    header = ("门类", "大类代码", "大类名称")
    foot = [header, ("水利、环境和公共设施管理业(N)", "78", "公共设施管理业"), ("居民服务、修理和", "79", "居民服务业")]
    top = [("其他服务业(O)", "80", "机动车、电子产品和日用产品修理业"), ("其他服务业(O)", "81", "其他服务业"), ("教育(P)", "83", "教育")]
    p1 = page(1, [], [_table(1, 400, 780, foot, cut_cells=(0, 2))])
    [table], _ = merge_across_pages([p1, page(2, [], [_table(2, 70, 300, top)])], Settings())
    assert [r[0] for r in table.rows] == ["水利、环境和公共设施管理业(N)"] + ["居民服务、修理和其他服务业(O)"] * 3 + ["教育(P)"]
    assert [r[2] for r in table.rows][1:3] == ["居民服务业", "机动车、电子产品和日用产品修理业"]  # rows' own cells stay
    # a label that ended in a short line was complete: the next page starts a new one
    [table], _ = merge_across_pages([page(1, [], [_table(1, 400, 780, foot, cut_cells=(2,))]),
                                     page(2, [], [_table(2, 70, 300, top)])], Settings())
    assert [r[0] for r in table.rows][1:3] == ["居民服务、修理和", "其他服务业(O)"]


def test_different_layout_or_text_between_keeps_tables_apart():
    t1 = _table(1, 400, 780, [("a", "b", "c"), ("1", "2", "3")])
    t2 = _table(2, 70, 300, [("x", "y"), ("1", "2")], edges=(70, 300, 526))
    assert len(merge_across_pages([page(1, [], [t1]), page(2, [], [t2])], Settings())[0]) == 2
    t3 = _table(2, 120, 300, [("1", "2", "3")])
    p2 = page(2, [line("表2 另一张表", 2, 80, 200)], [t3])
    assert len(merge_across_pages([page(1, [], [t1]), p2], Settings())[0]) == 2


def test_identical_repeat_on_next_page_is_not_a_continuation():
    rows = [("Hello", "World", "!"), ("1", "2", "3")]
    merged, _ = merge_across_pages([page(1, [], [_table(1, 400, 780, rows)]), page(2, [], [_table(2, 70, 300, rows)])], Settings())
    assert len(merged) == 2


def test_borderless_key_value_block_is_a_table():
    lines = []
    for i, (k, v) in enumerate([("主 管：广州市人民政府", "国内刊号：CN44-1712/D"), ("主 办：市政府办公厅", "邮政编码：510032"),
                                ("总 编：李 妍", "电 话：83123138")]):
        lines += [line(k, 1, 500 + 20 * i, 80), line(v, 1, 500 + 20 * i, 320)]
    merged, _ = merge_across_pages([page(1, lines)], Settings())
    assert len(merged) == 1 and merged[0].rows[2] == ["总编：李妍", "电话：83123138"]


def test_caption_and_label_come_from_the_lines_above():
    blocks = [Block(BlockKind.PARAGRAPH, "附件", 1, 1, set_apart=True),
              Block(BlockKind.PARAGRAPH, "广州市金融发展“十四五”重点项目和工作", 1, 1, set_apart=True),
              Block(BlockKind.TABLE, "", 1, 1)]
    assert caption_for(blocks, 2) == ("广州市金融发展“十四五”重点项目和工作", "附件")


def _para(text: str, page: int, set_apart: bool = True) -> Block:
    return Block(BlockKind.PARAGRAPH, text, page, page, set_apart=set_apart)


TABLE_BLOCK = Block(BlockKind.TABLE, "", 6, 6)


@pytest.mark.parametrize("above", [
    [_para("收入支出决算总表", 6), _para("单位：万元", 6, set_apart=False)],  # a right-aligned unit line below
    [_para("收入支出决算总表 单位：万元", 6)],  # the unit printed beside the title, on its row
    [_para("第二部分 部门决算表", 5), _para("收入支出决算总表", 6), _para("金额单位：万元", 6)],  # the page's first line
])
def test_caption_is_the_title_above_the_grid_past_its_unit_line(above):
    """Shanghai 部门决算 (finding 5): 单位：万元 sits right-aligned between the title and the
    grid, or beside the title; the caption is the title all the same."""
    assert caption_for([*above, TABLE_BLOCK], len(above)) == ("收入支出决算总表", None)


def test_no_caption_from_another_page_or_an_introducing_sentence():
    assert caption_for([_para("（一）机关运行经费支出情况", 5), TABLE_BLOCK], 1) == (None, None)
    intro = _para("纳入上海市普陀区财政局2024年度部门决算编制范围的单位包括：", 6, set_apart=False)
    assert caption_for([intro, TABLE_BLOCK], 1) == (None, None)


# the stacked header of 财政拨款“三公”经费支出决算表 (finance bureau p.18) as the grid reads it:
# spanning cells repeated over the positions they cover, a row of empty cells under 合计
THREE_PUBLIC = [
    ["财政拨款“三公”经费"] * 6,
    ["合计", "合计", "公务用车购置及运行费", "公务用车购置及运行费", "公务用车购置及运行费", "公务用车购置及运行费"],
    ["合计", "合计", "小计", "小计", "公务用车购置费", "公务用车购置费"],
    ["", "", "", "", "公务用车购置费", "公务用车购置费"],
    ["预算数", "决算数", "预算数", "决算数", "预算数", "决算数"],
    ["0.95", "", "", "", "", ""],
]


def test_stacked_header_rows_fold_into_one_name_per_column_top_down():
    from pipeline.tables import read_header

    head, data, names = read_header(THREE_PUBLIC)
    assert len(head) == 5 and data == [["0.95", "", "", "", "", ""]]
    assert names == ["财政拨款“三公”经费/合计/预算数", "财政拨款“三公”经费/合计/决算数",
                     "财政拨款“三公”经费/公务用车购置及运行费/小计/预算数",
                     "财政拨款“三公”经费/公务用车购置及运行费/小计/决算数",
                     "财政拨款“三公”经费/公务用车购置及运行费/公务用车购置费/预算数",
                     "财政拨款“三公”经费/公务用车购置及运行费/公务用车购置费/决算数"]
    # a table with no data printed keeps its blank row: the header never takes every row
    head, data, _ = read_header(THREE_PUBLIC[:5] + [[""] * 6])
    assert len(head) == 5 and data == [[""] * 6]


def test_a_sub_header_printed_in_the_first_data_row_goes_to_the_names():
    """收入决算表: 类 | 款 | 项 under 科目编码 share a grid row with the 合计 label and its sums."""
    from pipeline.tables import read_header

    rows = [["项目", "项目", "项目", "项目", "本年收入合计"],
            ["支出功能分类", "支出功能分类", "支出功能分类", "科目名称", "本年收入合计"],
            ["科目编码", "科目编码", "科目编码", "科目名称", "本年收入合计"],
            ["类", "款", "项", "合计", "2,946.25"],
            ["201", "", "", "一般公共服务支出", "2,112.86"]]
    head, data, names = read_header(rows)
    assert names == ["项目/支出功能分类/科目编码/类", "项目/支出功能分类/科目编码/款", "项目/支出功能分类/科目编码/项",
                     "项目/科目名称", "本年收入合计"]
    assert len(head) == 3 and data == [["", "", "", "合计", "2,946.25"], ["201", "", "", "一般公共服务支出", "2,112.86"]]
    # 合计 | 基本支出 | 项目支出 printed in the 合计 row under 本年支出 (政府性基金…决算表, social work p.15)
    rows = [["项目", "项目", "本年支出", "本年支出"], ["功能分类科目编码", "科目名称", "本年支出", "本年支出"],
            ["合计", "合计", "基本支出", "项目支出"], ["", "", "", ""]]
    head, data, names = read_header(rows)
    assert names == ["项目/功能分类科目编码", "项目/科目名称", "本年支出/基本支出", "本年支出/项目支出"]
    assert data == [["合计", "合计", "", ""], ["", "", "", ""]]


def test_a_header_of_one_row_leaves_data_rows_alone():
    from pipeline.tables import read_header

    assert read_header([["序号", "名称"], ["甲", "乙"], ["丙", "丁"]]) == (
        [["序号", "名称"]], [["甲", "乙"], ["丙", "丁"]], ["序号", "名称"])
    # a numeric row under a spanning name is data, not a header level
    head, data, names = read_header([["项目", "项目", "本年收入"], ["201", "一般公共服务", "2,106.66"]])
    assert names == ["项目", "项目", "本年收入"] and data == [["201", "一般公共服务", "2,106.66"]]


def test_side_by_side_panels_under_one_header_become_one_panel():
    """一般公共预算财政拨款基本支出决算表: 经济分类科目编码 | 科目名称 | 决算数, twice; the left
    panel ran shorter, its blank rows are padding."""
    merged = Merged(pieces=[Piece(13, (0, 0, 1, 1), [], (0, 1, 2, 3, 4, 5, 6), True, 0)],
                    header=["经济分类科目编码", "科目名称", "决算数"] * 2,
                    rows=[["301", "工资福利支出", "95.36", "302", "商品和服务支出", "10.23"],
                          ["", "", "", "310", "资本性支出", "0.00"],
                          ["人员经费合计", "人员经费合计", "95.36", "公用经费合计", "公用经费合计", "10.23"]])
    table = to_table(merged, "t7")
    assert table.header == ["经济分类科目编码", "科目名称", "决算数"] and table.col_edges == (0, 1, 2, 3)
    assert table.rows == [["301", "工资福利支出", "95.36"], ["人员经费合计", "人员经费合计", "95.36"],
                          ["302", "商品和服务支出", "10.23"], ["310", "资本性支出", "0.00"],
                          ["公用经费合计", "公用经费合计", "10.23"]]
    assert panel_width(["收入/项目", "收入/决算数", "支出/项目", "支出/决算数"]) == 0


# --- issue split and 目录 ------------------------------------------------------------------


def _blocks(texts: list[str]) -> list[Block]:
    return [Block(BlockKind.PARAGRAPH, t, i + 1, i + 1, set_apart=len(t) <= 40) for i, t in enumerate(texts)]


def test_issue_toc_and_document_headers():
    blocks = _blocks([
        "某市人民政府公报", "2021 年第 29 期", "目 录", "市政府办公厅文件", "市政府办公厅关于印发甲规划的通知",
        "（某府办〔2021〕9号） (1)", "部门文件", "某局关于印发乙方案", "的通知（某局规字〔2021〕2号） (75)",
        "某市人民政府办公厅文件", "某府办〔2021〕9号", "市政府办公厅关于印发甲规划的通知", "各区人民政府：", "正文。",
        "2021年9月17日", "公开方式：主动公开", "GZ001", "某局文件", "某局规字〔2021〕2号", "某局关于印发乙方案的通知", "正文二。",
    ])
    parts = split_issue(blocks)
    assert parts.issue == "2021-29"
    assert [(e.doc_number, e.page, e.title) for e in parts.toc] == [
        ("某府办〔2021〕9号", 1, "市政府办公厅关于印发甲规划的通知"), ("某局规字〔2021〕2号", 75, "某局关于印发乙方案的通知")]
    d1, d2 = parts.documents
    assert (d1.document.issuer, d1.document.doc_number, d1.document.title, d1.document.signed_date, d1.document.publication) == (
        "某市人民政府办公厅", "某府办〔2021〕9号", "市政府办公厅关于印发甲规划的通知", "2021-09-17", "主动公开")
    assert [b.text for b in d1.back_matter] == ["GZ001"]
    assert d2.document.doc_number == "某局规字〔2021〕2号"
    assert {r.reason for r in parts.removed} == {"issue_cover", "issue_toc"}


def test_a_joint_document_title_keeps_the_space_between_its_issuers():
    from pipeline.issue import document_part

    part = document_part(_blocks(["某市林业局 某市财政局 文件", "某林规字〔2021〕2号",
                                  "某市林业局 某市财政局 关于印发 2021—2025 年某市补偿 方案的通知", "各区：", "正文。"]))
    assert part.document.issuer == "某市林业局 某市财政局"
    assert part.document.title == "某市林业局 某市财政局关于印发 2021—2025 年某市补偿方案的通知"


def test_bracketed_group_lines_of_an_issue_toc_are_not_titles():
    blocks = _blocks(["目录", "【省政府办公厅文件】", "某省人民政府办公厅关于加强某项工作的意见", "（某府办发〔2023〕4号） (3)",
                      "〔人事任免〕", "某省人民政府关于某某等同志职务任免的通知 (12)"])
    assert [(e.title, e.doc_number, e.page) for e in parse_issue_toc(blocks, 0, len(blocks))] == [
        ("某省人民政府办公厅关于加强某项工作的意见", "某府办发〔2023〕4号", 3), ("某省人民政府关于某某等同志职务任免的通知", None, 12)]


def test_doc_number_and_issue_id_patterns():
    assert doc_number_alone("穗府办〔2021〕9号") == "穗府办〔2021〕9号"
    assert doc_number_alone("穗林业园林规字〔2021〕2号") == "穗林业园林规字〔2021〕2号"
    assert doc_number_alone("根据穗府办〔2021〕9号文件精神，现通知如下。") is None
    assert issue_id(["2021 年第 29 期（总第 890 期）"]) == "2021-29"
    assert parse_issue_toc(_blocks(["目录", "无页码条目"]), 0, 2) == []


def _doc_with(toc_texts: list[str], body_texts: list[str]):
    from pipeline.model import Document

    blocks = _blocks(["目 录", *toc_texts, *body_texts])
    entries, end = parse_toc_blocks(blocks, 0)
    doc = Document("d", "pdf", "s", "x", toc=entries)
    doc.sections = build_sections(blocks[end:])
    return doc, end


def test_a_code_with_parts_and_subparts_checks_clean():
    """民法典 style: chapters start again in every 编 and run on across its 分编."""
    toc = ["第一编 总则", "第一章 基本规定", "第二章 自然人", "第一节 民事权利能力", "第二编 物权", "第一分编 通则",
           "第一章 一般规定", "第一节 不动产登记", "第二章 物权的保护", "第二分编 所有权", "第三章 一般规定"]
    body = ["第一编 总则", "第一章 基本规定", "第一条 为了保护民事主体的合法权益，制定本法。", "第二章 自然人",
            "第一节 民事权利能力", "第二条 自然人从出生时起到死亡时止。", "第二编 物权", "第一分编 通则", "第一章 一般规定",
            "第一节 不动产登记", "第三条 不动产物权的设立。", "第二章 物权的保护", "第四条 物权受到侵害的。",
            "第二分编 所有权", "第三章 一般规定", "第五条 所有权人。"]
    doc, end = _doc_with(toc, body)
    assert end == 1 + len(toc)
    assert [(e.level, e.number, e.title) for e in doc.toc][4:6] == [("part", 2, "物权"), ("subpart", 1, "通则")]
    checks = check_document(doc, None)
    assert {c.status for c in checks} == {"ok"} and len(checks) == len(toc)
    assert [s.path for s in doc.sections if s.level == "chapter"][2] == "第二编/第一分编/第一章"


def test_chapter_numbering_may_run_on_across_parts_but_a_real_gap_is_found():
    sections = build_sections(_blocks(["第一编 总则", "第一章 甲", "第二章 乙", "第二编 分则", "第三章 丙", "第五章 戊"]))
    found = {(c.status, c.level, c.number) for c in numbering_checks(sections)}
    assert found == {("gap", "chapter", 5)}


def test_toc_statuses():
    toc = ["第一章 发展基础", "第一节 成就", "第二节 环境", "第二章 总体要求", "第一节 指导思想", "第三章 保障"]
    body = ["第一章 发展基础", "第二节 环境", "第一节 成 就", "第二章 总体目标", "第一节 指导思想", "第二节 新增节"]
    doc, end = _doc_with(toc, body)
    assert end == 1 + len(toc)
    got = {(c.level, c.parent_number, c.number): c.status for c in check_document(doc, None)}
    assert got[("chapter", None, 1)] == "ok"
    assert got[("section", 1, 1)] == "out_of_order" or got[("section", 1, 2)] == "out_of_order"
    assert got[("chapter", None, 2)] == "title_mismatch"
    assert got[("chapter", None, 3)] == "missing"
    assert got[("section", 2, 2)] == "extra"


def test_toc_page_references_and_wrapped_entries():
    blocks = _blocks(["目录", "第一章 总则 ........ 1", "第二章 共建粤港澳大湾区国际金融枢纽，增强金融资源配置", "能力 ...... 5",
                      "第一章 总则"])
    entries, end = parse_toc_blocks(blocks, 0)
    assert [(e.number, e.title, e.page) for e in entries] == [(1, "总则", 1), (2, "共建粤港澳大湾区国际金融枢纽，增强金融资源配置能力", 5)]
    assert end == 4


def test_numbering_gaps_and_duplicates_without_toc():
    sections = build_sections(_blocks(["第一章 甲", "第三章 丙", "第三章 丙二", "第一条 正文内容。", "第三条 正文内容。"]))
    found = {(c.status, c.level, c.number) for c in numbering_checks(sections)}
    assert {("gap", "chapter", 3), ("duplicate", "chapter", 3), ("gap", "article", 3)} <= found


def test_the_next_item_glued_to_a_paragraph_starts_its_own_section():
    """A lost line break: ``…规则。（八）负责…`` holds (八) after (七); a reference does not split."""
    sections = build_sections(_blocks([
        "一、主要职能",
        "（七）负责会计管理工作，组织实施各项会计准则。（八）负责非税收入管理，按照分工管理收费。",
        "（九）拟订国库管理制度，详见第（十一）项和（十）的规定。第十条另有规定的除外。",
        "第一条 为了规范管理，制定本办法。第二条 本办法适用于全市。",
    ]))
    got = [(s.level, s.number, s.text) for s in sections[1:]]
    assert got == [
        ("item", 1, ""),
        ("subitem", 7, "负责会计管理工作，组织实施各项会计准则。"),
        ("subitem", 8, "负责非税收入管理，按照分工管理收费。"),
        ("subitem", 9, "拟订国库管理制度，详见第（十一）项和（十）的规定。第十条另有规定的除外。"),
        ("article", 1, "为了规范管理，制定本办法。"),
        ("article", 2, "本办法适用于全市。"),
    ]


@pytest.mark.parametrize(("n", "cn"), [(1, "一"), (10, "十"), (12, "十二"), (20, "二十"), (99, "九十九"), (100, "一百"),
                                      (105, "一百零五"), (110, "一百一十"), (123, "一百二十三")])
def test_int_to_cn_round_trips(n, cn):
    assert int_to_cn(n) == cn and cn_to_int(cn) == n


def test_bare_chapter_number_takes_the_title_line_below():
    sections = build_sections(_blocks(["第一章", "总 则", "第一条 为了规范管理，制定本办法。", "第二章", "附 则"]))
    got = [(s.level, s.number, s.heading, s.title) for s in sections[1:]]
    assert got == [("chapter", 1, "第一章 总 则", "总则"), ("article", 1, "第一条", ""), ("chapter", 2, "第二章 附 则", "附则")]


def test_documents_without_doc_number_are_found_by_their_issue_toc_title():
    blocks = _blocks([
        "某省人民政府公报", "2023年第5期", "目录", "某省人民政府令 ……………… 1",
        "某省城市供水管理办法 ……………… 2", "某省人民政府关于公布取消行政许可事项的决定 ………… 9",
        "某省人民政府令", "第 301 号", "《某省城市供水管理办法》已经省政府常务会议通过，现予公布。", "省长 某某",
        "某省城市供水管理办法", "第一章 总则", "第一条 为了加强城市供水管理，制定本办法。",
        "某省人民政府关于公布取消", "行政许可事项的决定", "各市人民政府：", "现决定取消下列事项。",
    ])
    parts = split_issue(blocks)
    assert [e.page for e in parts.toc] == [1, 2, 9]
    assert [p.document.title for p in parts.documents] == [
        "某省人民政府令", "某省城市供水管理办法", "某省人民政府关于公布取消行政许可事项的决定"]
    assert parts.documents[1].blocks[0].text == "某省城市供水管理办法"


def test_turned_text_is_tagged_unless_it_is_most_of_the_page():
    from pipeline.extract.chars import page_lines

    body = [Char(ch, 100 + 12 * i, 112 + 12 * i, 200.0, 12.0) for i, ch in enumerate("正文内容")]
    stamp = [Char(ch, 300 + 20 * i, 500 - 20 * i, 500 - 20 * i, 30.0) for i, ch in enumerate("仅供参考")]
    warnings: list[str] = []
    lines = page_lines(body, stamp, 1, warnings)
    assert [(ln.text, ln.layer, ln.reason) for ln in lines] == [
        ("正文内容", Layer.BODY, None), ("仅供参考", Layer.BACKGROUND, "rotated_text")]
    assert warnings == []
    lines = page_lines(body[:1], stamp, 2, warnings)  # a page drawn turned: its text is the body
    assert [(ln.text, ln.layer) for ln in lines] == [("正", Layer.BODY), ("仅供参考", Layer.BODY)]
    assert "turned" in warnings[0]


def test_two_column_gutter_needs_two_columns_of_full_lines():
    from pipeline.layout import two_column_gutter

    def line(x0, x1, top, text="这是一行正文文字内容"):
        return Line(text, 1, (x0, top, x1, top + 10), 10.0)

    columns = [line(50, 280, 100 + 14 * i) for i in range(8)] + [line(310, 540, 100 + 14 * i) for i in range(8)]
    assert two_column_gutter(columns) == (280, 310)
    one_column = [line(50, 540, 100 + 14 * i) for i in range(16)]
    assert two_column_gutter(one_column) is None
    key_values = [line(50, 110, 100 + 14 * i, "主办") for i in range(8)] + [line(310, 400, 100 + 14 * i) for i in range(8)]
    assert two_column_gutter(key_values) is None  # short keys: a list, not a column of text


# --- rulings: only what shows on paper makes a table (both backends) ------------------------

CELL_TEXT = [["Item", "Amount", "Note"], ["Rent", "120", "monthly"], ["Power", "45", "estimate"]]
PARAGRAPH = ["Runs of text drawn over boxes that nobody can see on", "paper 2024: each box is four edges to a table",
             "finder, and boxes of touching lines and runs make grids."]


def _visible_table(canv, top: float = 700) -> None:
    """A plainly ruled 3 x 3 table."""
    xs, height = [72, 200, 300, 450], 20
    for r in range(len(CELL_TEXT) + 1):
        canv.line(xs[0], top - r * height, xs[-1], top - r * height)
    for x in xs:
        canv.line(x, top, x, top - len(CELL_TEXT) * height)
    for r, row in enumerate(CELL_TEXT):
        for c, text in enumerate(row):
            canv.drawString(xs[c] + 4, top - (r + 1) * height + 6, text)


def _boxed_runs(canv, fill, top: float = 500, stroke: bool = False, lines: list[str] = PARAGRAPH) -> None:
    """A paragraph whose runs (split where digits start) each sit on a filled box the
    height of the line pitch, as legal-database exports draw them: boxes touch."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    canv.setFont("Helvetica", 11)
    for k, text in enumerate(lines):
        y, x = top - 16 * k, 72.0
        for run in re.findall(r"\d+|\D+", text):
            width = stringWidth(run, "Helvetica", 11)
            canv.setFillColorRGB(*fill)
            canv.rect(x, y - 4, width, 16, stroke=int(stroke), fill=1)
            canv.setFillColorRGB(0, 0, 0)
            canv.drawString(x, y, run)
            x += width


def _page_with(path, draw) -> None:
    from reportlab.pdfgen.canvas import Canvas

    canv = Canvas(str(path), pagesize=(595, 842))
    canv.setFont("Helvetica", 11)
    draw(canv)
    canv.showPage()
    canv.save()


def _tables_on_both_backends(path) -> list[list[list[str]]]:
    from pipeline.extract.pdf import open_pdf

    got = {}
    for backend in ("pdfium", "pdfplumber"):
        with open_pdf(path, backend) as reader:
            got[backend] = [[list(r) for r in t.rows] for p in reader.pages() for t in p.tables]
    assert got["pdfium"] == got["pdfplumber"]
    return got["pdfplumber"]


def _cream_page(canv) -> None:
    canv.setFillColorRGB(1, 0.97, 0.9)
    canv.rect(0, 0, 595, 842, stroke=0, fill=1)
    canv.setFillColorRGB(0, 0, 0)
    _visible_table(canv)
    _boxed_runs(canv, (1, 0.97, 0.9))


def _zero_width_grid(canv) -> None:
    _visible_table(canv)
    for k in range(4):  # a grid of fills with no width or no height: nothing painted
        canv.rect(72 + 100 * k, 300, 0, 90, stroke=0, fill=1)
        canv.rect(72, 300 + 30 * k, 300, 0, stroke=0, fill=1)
    canv.drawString(80, 370, "A")
    canv.drawString(180, 340, "B")


def _off_the_page(canv) -> None:
    _visible_table(canv)
    canv.saveState()
    canv.translate(-700, 0)  # a second table, drawn where no page shows it
    _visible_table(canv, top=400)
    canv.restoreState()


@pytest.mark.parametrize("draw", [
    pytest.param(lambda canv: (_visible_table(canv), _boxed_runs(canv, (1, 1, 1))), id="white-boxes-behind-runs"),
    pytest.param(_cream_page, id="background-coloured-boxes"),
    pytest.param(_zero_width_grid, id="zero-width-fills"),
    pytest.param(_off_the_page, id="clipped-away-by-the-page"),
])
def test_only_visible_rulings_make_tables(tmp_path, draw):
    """Finding 2 of issue 13: a legal-database export paints a white, unstroked box behind
    every text run; each was a table (2,677 of them, their text taken out of the body)."""
    pdf = tmp_path / "page.pdf"
    _page_with(pdf, draw)
    assert _tables_on_both_backends(pdf) == [CELL_TEXT]


def test_a_box_around_one_line_is_no_table(tmp_path):
    def draw(canv):
        _visible_table(canv)
        canv.setFillColorRGB(1, 1, 0.4)  # a highlight behind one line
        canv.rect(70, 596, 300, 16, stroke=0, fill=1)
        canv.setFillColorRGB(0, 0, 0)
        canv.drawString(72, 600, "A highlighted sentence of the body text.")
        canv.rect(70, 546, 200, 18, stroke=1, fill=0)  # a boxed heading
        canv.drawString(72, 550, "Chapter One General Rules")
        # visible boxes behind the runs of one line: cells in a row, but one line of text
        _boxed_runs(canv, (0.8, 0.9, 1.0), top=450, stroke=True, lines=PARAGRAPH[1:2])

    pdf = tmp_path / "boxes.pdf"
    _page_with(pdf, draw)
    assert _tables_on_both_backends(pdf) == [CELL_TEXT]


def _label_cut_at_the_foot(path, label: str) -> None:
    """A CSRC-style list over two pages: the 门类 label of rows 79-81 is a merged cell cut by
    the page break; its first line (``label``) stands at the foot of page 1."""
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen.canvas import Canvas

    first = "Residential services, repair and"
    xs = [72, 72 + stringWidth(first, "Helvetica", 10) + 4, 320, 500]
    # (top of the grid, rows, rows whose bottom rule leaves out the label column: it spans on)
    pages = [(120, [["Section", "Code", "Name"], ["Water (N)", "78", "Utilities"], [label, "79", "Residents"]], set()),
             (780, [["other services (O)", "80", "Repair"], ["", "81", "Other"], ["Education (P)", "83", "Schools"]], {0})]
    canv = Canvas(str(path), pagesize=(595, 842))
    for top, rows, spanning in pages:
        canv.setFont("Helvetica", 10)
        canv.line(xs[0], top, xs[-1], top)
        for r, row in enumerate(rows):
            y = top - (r + 1) * 20
            canv.line(xs[1] if r in spanning else xs[0], y, xs[-1], y)
            for c, text in enumerate(row):
                canv.drawString(xs[c] + 2, y + 6, text)
        for x in xs:
            canv.line(x, top, x, top - 20 * len(rows))
        canv.showPage()
    canv.save()


@pytest.mark.parametrize(("label", "column"), [
    ("Residential services, repair and", ["Water (N)", *["Residential services, repair and other services (O)"] * 3,
                                           "Education (P)"]),
    ("Residents", ["Water (N)", "Residents", "other services (O)", "other services (O)", "Education (P)"]),
])
def test_a_merged_label_cut_at_the_page_foot_on_both_backends(tmp_path, label, column):
    """Finding 8: ``居民服务、修理和`` / ``其他服务业(O)`` was filled down in two halves. A label
    whose last line at the foot is full goes on overleaf; a short one was complete."""
    from pipeline.process import process_pdf

    pdf = tmp_path / "list.pdf"
    _label_cut_at_the_foot(pdf, label)
    got = {}
    for backend in ("auto", "pdfplumber"):
        [doc] = process_pdf(pdf, source="x", raw_sha256="0" * 64, settings=Settings(backend=backend)).documents
        got[backend] = [(t.page_start, t.page_end, [r[0] for r in t.rows]) for t in doc.tables]
    assert got["auto"] == got["pdfplumber"] == [(1, 2, column)]


# --- the tables stage through the whole PDF path (builder PDFs) -------------------------------

ONE_TABLE = "上市公司行业分类结果\n\n| 序号 | 门类 | 行业名称 |\n|---|---|---|\n" + "\n".join(
    f"| {i} | 门类{i // 10} | 行业名称第{i}项 |" for i in range(1, 121)) + "\n"


def test_a_document_that_is_one_table_ends_on_the_tables_last_page(pdf_factory):
    """Finding 8: a CSRC industry list, one table over 85 pages, reported page_end = 1."""
    from pipeline.process import process_pdf

    pdf = pdf_factory(ONE_TABLE, "one-table.pdf")
    [doc] = process_pdf(pdf, source="x", raw_sha256="0" * 64).documents
    [table] = doc.tables
    assert (table.page_start, table.page_end, table.n_rows, table.caption) == (1, 4, 120, "上市公司行业分类结果")
    assert (doc.page_start, doc.page_end) == (1, 4)


STACKED = """财政拨款“三公”经费支出决算表

单位：万元

| 财政拨款“三公”经费 | << | << | << | << | << |
| 合计 | << | 公务用车购置及运行维护费 | << | 公务接待费 | << |
| 预算数 | 决算数 | 预算数 | 决算数 | 预算数 | 决算数 |
|---|---|---|---|---|---|
""" + "\n".join(f"| {i}.5 | {i} | {i}.25 | 1 | 2 | 3 |" for i in range(1, 60)) + "\n"


def test_three_header_rows_repeated_on_every_page_fold_into_one_name_per_column(pdf_factory):
    from pipeline.process import process_pdf

    [doc] = process_pdf(pdf_factory(STACKED, "stacked.pdf"), source="x", raw_sha256="0" * 64).documents
    [table] = doc.tables
    assert table.caption == "财政拨款“三公”经费支出决算表" and (table.page_start, table.page_end) == (1, 3)
    assert table.header == [f"财政拨款“三公”经费/{group}/{level}" for group in ("合计", "公务用车购置及运行维护费", "公务接待费")
                            for level in ("预算数", "决算数")]
    assert table.n_rows == 59 and [r[0] for r in table.rows] == [f"{i}.5" for i in range(1, 60)]
