"""Heading boundaries as real exports print them: a heading on a page's last line, a run-in
heading whose last word wrapped, a colon at a line's end, a regulation quoted under an item.
Each rule on a few lines, then on the real 决算 PDF where it was seen."""

from __future__ import annotations

import pytest

from pipeline.ingest import process_source
from pipeline.layout import build_blocks
from pipeline.model import Block, BlockKind
from pipeline.outline import build_sections
from tests.conftest import CORPUS
from tests.test_stages import LEFT, RIGHT, SIZE, line, page, para_lines

FINANCE_BUREAU = CORPUS / "pdf" / "gov_shanghai_putuo_finance_bureau_2024_final_accounts.pdf"
TEXT = "上海市普陀区财政局加强预算管理，规范财政资金使用，提高资金使用效益，确保各项工作顺利推进实施。" * 3


def _texts(pages) -> list[str]:
    return [b.text for b in build_blocks(pages)]


def test_a_heading_on_a_pages_last_line_stays_a_heading():
    """（一）… at the foot of a page, the next page opening at the margin: two blocks, not
    ``（一）机关运行经费支出情况机关运行经费支出184.65万元…``."""
    first = para_lines(TEXT, 1, 100) + [line("（一）机关运行经费支出情况", 1, 740, LEFT + 2 * SIZE)]
    second = [line("机关运行经费支出184.65万元，比上年度增加2.55万元，增长1.40%。主要原因是优化办公", 2, 72,
                   LEFT + SIZE, x1=RIGHT)] + para_lines(TEXT, 2, 92)
    texts = _texts([page(1, first), page(2, second)])
    assert "（一）机关运行经费支出情况" in texts
    assert any(t.startswith("机关运行经费支出184.65万元") for t in texts)


def test_a_paragraph_cut_by_a_page_break_still_joins():
    first = para_lines(TEXT, 1, 100) + [line("全年共安排专项资金三千万元用于支持中小企业发展和", 1, 740, x1=RIGHT)]
    second = [line("科技创新项目。", 2, 72, x1=LEFT + 7 * SIZE)] + para_lines(TEXT, 2, 92)
    assert "全年共安排专项资金三千万元用于支持中小企业发展和科技创新项目。" in _texts([page(1, first), page(2, second)])


def test_a_colon_at_a_lines_end_does_not_end_the_paragraph():
    """主要原因： standing short, the reasons below it at the margin (a blank line between)."""
    lines = [*para_lines(TEXT, 1, 100),
             line("上海市普陀区财政局财政拨款收入支出总计0.3万元。与上年相比，", 1, 400, LEFT + 2 * SIZE, x1=RIGHT),
             line("财政拨款收入支出总计持平。主要原因：", 1, 420, LEFT),
             line("基本支出中人员进出及退休变化，以及项目支出中合同支付进度条款等原因减少支", 1, 448, LEFT, x1=RIGHT - 10),
             line("付。", 1, 462, LEFT), *para_lines(TEXT, 1, 500)]
    texts = _texts([page(1, lines)])
    assert any(t.endswith("主要原因：基本支出中人员进出及退休变化，以及项目支出中合同支付进度条款等原因减少支付。") for t in texts)


def test_a_numbered_list_after_a_colon_starts_its_own_blocks():
    """…调减。其中： at a page's foot, 1、… opening the next page (the real 决算 p.21-22)."""
    first = para_lines(TEXT, 1, 100) + [line("因年度工作计划安排，个别项目调减。其中：", 1, 740, LEFT)]
    second = [line("1、一般公共服务支出（类）财政事务（款）行政运行（项）。主要用于：局本部人员经费", 2, 72,
                   LEFT + 6, x1=RIGHT)] + para_lines(TEXT, 2, 92)
    texts = _texts([page(1, first), page(2, second)])
    assert "因年度工作计划安排，个别项目调减。其中：" in texts
    assert any(t.startswith("1、一般公共服务支出") for t in texts)


def test_a_colon_line_does_not_swallow_an_indented_paragraph():
    lines = [line("各区人民政府，市政府各部门：", 1, 100, LEFT), *para_lines(TEXT, 1, 120)]
    texts = _texts([page(1, lines)])
    assert texts[0] == "各区人民政府，市政府各部门："


def _paragraphs(*texts: str) -> list[Block]:
    return [Block(BlockKind.PARAGRAPH, t, 1, 1, set_apart=len(t) <= 40, n_lines=1 + len(t) // 38) for t in texts]


def test_a_run_in_heading_keeps_the_word_that_wrapped():
    """…行政单位离退休 / （项）。主要用于：…: the title is the whole of it."""
    sections = build_sections(_paragraphs(
        "5、社会保障和就业支出（类）行政事业单位养老支出（款）行政单位离退休",
        "（项）。主要用于：退休人员经费支出。年初预算为85.55万元，支出决算为84.65万元。",
    ))
    [item] = sections[1:]
    assert item.heading == "5、社会保障和就业支出（类）行政事业单位养老支出（款）行政单位离退休（项）。"
    assert item.title == "社会保障和就业支出（类）行政事业单位养老支出（款）行政单位离退休（项）"
    assert item.text == "主要用于：退休人员经费支出。年初预算为85.55万元，支出决算为84.65万元。"


def test_a_short_standalone_title_keeps_its_own_paragraph():
    sections = build_sections(_paragraphs("（一）指导思想", "坚持。以人民为中心的发展思想，推动高质量发展。"))
    assert [(s.level, s.title, s.text) for s in sections[1:]] == [
        ("subitem", "指导思想", "坚持。以人民为中心的发展思想，推动高质量发展。")]


def test_a_regulation_quoted_under_an_item_stays_inside_it():
    """一、 quoting 第一条…第三条 with its （一）…: 二、 is 一、's sibling, not 第三条's child."""
    sections = build_sections(_paragraphs(
        "第一部分 概况", "一、主要职能", "第一条 根据机构改革方案，制定本规定。", "第二条 本局是区政府工作部门。",
        "第三条 本局的主要职责是：", "（一）贯彻执行财政工作的法律法规。", "（二）完成交办的其他任务。",
        "二、部门决算单位构成", "（一）本级决算。",
    ))
    by_seq = {s.seq: s for s in sections}
    got = {s.heading.split(" ")[0]: (by_seq[s.parent_seq].heading if s.parent_seq is not None else None) for s in sections[1:]}
    assert got["一、主要职能"] == got["二、部门决算单位构成"] == "第一部分 概况"
    assert [s.path for s in sections if s.level == "article"] == ["第一部分/一/第一条", "第一部分/一/第二条", "第一部分/一/第三条"]
    assert [s.path for s in sections if s.level == "subitem"] == ["第一部分/一/第三条/（一）", "第一部分/一/第三条/（二）", "第一部分/二/（一）"]


def test_in_a_law_the_next_article_still_closes_its_items():
    sections = build_sections(_paragraphs(
        "第一章 总则", "第一条 为了规范管理，制定本办法。", "第二条 下列事项适用本办法：", "（一）预算管理；",
        "（二）资金使用。", "第三条 本办法自公布之日起施行。",
    ))
    assert [s.path for s in sections[1:]] == ["第一章", "第一章/第一条", "第一章/第二条", "第一章/第二条/（一）",
                                             "第一章/第二条/（二）", "第一章/第三条"]


# --- on the real 决算 PDF (ONLYOFFICE), checked against the printed pages ----------------------


@pytest.fixture(scope="module")
def bureau():
    [doc] = process_source(FINANCE_BUREAU).documents
    return {s.heading: s for s in doc.sections}, {s.seq: s for s in doc.sections}


def test_real_page_foot_heading(bureau):
    """p.23 ends with （一）机关运行经费支出情况; p.24 opens with its text."""
    by_heading, _ = bureau
    sec = by_heading["（一）机关运行经费支出情况"]
    assert (sec.level, sec.title, sec.page_start) == ("subitem", "机关运行经费支出情况", 23)
    assert sec.text.startswith("机关运行经费支出184.65万元，比2023年度增加2.55万元，增长1.40%。")


def test_real_wrapped_run_in_title(bureau):
    """p.22: 5、社会保障和就业支出（类）行政事业单位养老支出（款）行政单位离退休 / （项）。主要用于：…"""
    by_heading, _ = bureau
    sec = by_heading["5、社会保障和就业支出（类）行政事业单位养老支出（款）行政单位离退休（项）。"]
    assert sec.text.startswith("主要用于：退休人员经费支出。年初预算为85.55万元")


def test_real_colon_line(bureau):
    """p.21: …总计持平。主要原因： / (a blank line) / 基本支出中人员进出…减少支付。"""
    by_heading, _ = bureau
    text = by_heading["四、财政拨款收入支出决算总体情况说明"].text
    assert "财政拨款收入支出总计持平。主要原因：基本支出中人员进出及退休变化" in text


def test_real_quoted_articles_under_an_item(bureau):
    """p.4-5: 一、主要职能 quotes the bureau's regulation (第一条…第三条, （一）…（十二）); 二、 follows."""
    by_heading, by_seq = bureau
    item_two = by_heading["二、部门决算单位构成"]
    assert by_seq[item_two.parent_seq].heading == "第一部分 上海市普陀区财政局概况"
    assert by_heading["第三条"].path == "第一部分/一/第三条"


# --- a page number and the watermark on one line -----------------------------------------------


def _footer_pdf(path, pages: int = 4) -> None:
    """Pages whose footer line carries the page number and the watermark side by side."""
    from reportlab.pdfgen.canvas import Canvas

    from tests.fixtures.build_gazette import draw_text, text_width

    canv = Canvas(str(path), pagesize=(595, 842))
    for n in range(1, pages + 1):
        for k in range(30):
            words = "财政资金使用管理规范化建设持续推进绩效评价结果应用不断深化"
            draw_text(canv, 72, 760 - 20 * k, words[(n * 7 + k) % 20:] + words[: (n * 7 + k) % 20], 12)
        footer = f"— {n} —（本文与正式文件同等效力）"
        draw_text(canv, (595 - text_width(footer, 10.5)) / 2, 40, footer, 10.5)
        canv.showPage()
    canv.save()


def test_a_page_number_line_carrying_the_watermark_is_removed_and_audited_as_both(tmp_path):
    pdf = tmp_path / "footer.pdf"
    _footer_pdf(pdf)
    result = process_source(pdf)
    removed = sorted((r.page, r.reason, r.text) for r in result.removed)
    assert removed == [(n, reason, text) for n in range(1, 5)
                       for reason, text in sorted([("page_number", f"— {n} —"), ("watermark", "（本文与正式文件同等效力）")])]
    body = "\n".join(s.text for d in result.documents for s in d.sections)
    assert "效力" not in body and "— " not in body
    assert [d.page_start for d in result.documents] == [1]
