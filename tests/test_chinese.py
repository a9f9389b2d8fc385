"""pipeline/chinese.py: numerals both ways, Han characters beyond the BMP, folding, dates,
the heading grammar's line openers and the watermark in every variant."""

from __future__ import annotations

import random

import pytest

from pipeline.chinese import (
    cn_to_int,
    find_watermark,
    fold,
    heading_start,
    int_to_cn,
    is_han,
    iso_date,
    join_han,
    parse_heading,
)

NUMERALS = {
    0: "零", 7: "七", 10: "十", 12: "十二", 20: "二十", 99: "九十九", 100: "一百", 105: "一百零五", 110: "一百一十",
    999: "九百九十九", 1000: "一千", 1001: "一千零一", 1010: "一千零一十", 1100: "一千一百", 1260: "一千二百六十",
    9999: "九千九百九十九", 10000: "一万", 10001: "一万零一", 10010: "一万零一十", 10100: "一万零一百",
    11000: "一万一千", 100000: "十万", 100010: "十万零一十", 1000000: "一百万", 20000000: "二千万",
    99990000: "九千九百九十九万", 99999999: "九千九百九十九万九千九百九十九", 100000000: "一亿",
    100000001: "一亿零一", 101000000: "一亿零一百万",
}


@pytest.mark.parametrize(("n", "text"), NUMERALS.items())
def test_numerals_both_ways(n, text):
    assert int_to_cn(n) == text
    assert cn_to_int(text) == n


@pytest.mark.parametrize(("text", "n"), [
    ("两千", 2000), ("两万", 20000), ("二〇二一", 2021), ("一九九九", 1999), ("〇", 0), ("42", 42), ("４２", 42),
    ("第", None), ("", None), ("十二a", None),
])
def test_numeral_forms_as_printed(text, n):
    assert cn_to_int(text) == n


def test_numerals_round_trip_over_the_whole_range():
    picks = random.Random(20261202).sample(range(100_000_000), 5000) + list(range(0, 2100))
    assert [n for n in picks if cn_to_int(int_to_cn(n)) != n] == []


def test_article_numbers_past_one_thousand_are_headings():
    """第一千条 and beyond (the 民法典 has 1,260 articles): the numeral writer stopped at 999."""
    h = parse_heading("第一千二百六十条　本法自2021年1月1日起施行。", False)
    assert (h.level, h.number, h.rest) == ("article", 1260, "本法自2021年1月1日起施行。")


def test_han_beyond_the_basic_plane_and_in_extension_a_survive():
    """\\p{Han}, not a hand-written range: 䶮 (Extension A) and 𠮷 (Extension B, a surrogate
    pair in UTF-16) are Han characters like 王."""
    assert all(is_han(ch) for ch in "王䶮𠮷") and not is_han("a")
    assert join_han("王 䶮 与 𠮷 先生") == "王䶮与𠮷先生"
    h = parse_heading("第二章 王䶮𠮷", True)
    assert (h.level, h.title) == ("chapter", "王䶮𠮷")


def test_fold_and_join_han():
    assert fold("“总　则” (一)") == fold('"总则"（一）') == '"总则"(一)'
    assert join_han("第二章 自 然 人") == "第二章自然人"
    assert join_han("2021 年 9 月") == "2021 年 9 月"  # spaces beside digits stay


@pytest.mark.parametrize(("text", "iso"), [
    ("2021年9月15日", "2021-09-15"), ("2021 年 9 月 15 日", "2021-09-15"), ("2020-05-28", "2020-05-28"),
    ("２０２１年１月１日", "2021-01-01"), ("2021.1.1", "2021-01-01"), ("2021年13月1日", None), ("明天", None),
])
def test_iso_dates(text, iso):
    assert iso_date(text) == iso


@pytest.mark.parametrize("line", [
    "本文与正式文件同等效力", "（本文与正式文件同等效力）", "(本文与正式文件同等效力)", "（本文与正式文件同效力）",
    "【本文与正式文件具有同等效力】", "本 文 与 正 式 文 件 同 等 效 力", "(本文与正式文件同等效力 )",
])
def test_the_watermark_in_its_variants_is_the_whole_line(line):
    start, end = find_watermark(line)
    assert line[:start].strip() == "" and line[end:].strip() == ""


@pytest.mark.parametrize(("line", "rest"), [
    ("— 12 —（本文与正式文件同等效力）", "— 12 —"),
    ("（本文与正式文件同等效力） - 3 -", "- 3 -"),
    ("12 本文与正式文件同等效力", "12"),
])
def test_the_watermark_beside_a_page_number(line, rest):
    start, end = find_watermark(line)
    assert (line[:start] + line[end:]).strip() == rest


@pytest.mark.parametrize("line", [
    "本通知与正式文件具有同等效力，请遵照执行。",  # a sentence that says so
    "第三条 本文与正式文件同等效力的规定，适用于电子公文。",
    "同等效力",
])
def test_a_sentence_is_no_watermark(line):
    assert find_watermark(line) is None


@pytest.mark.parametrize(("line", "opens"), [
    ("第二章 自 然 人", True), ("第一编 总则", True), ("第二分编 所有权", True), ("一、总体要求", True),
    ("（三）加强监管", True), ("附件", True), ("附　则", True),
    ("第十条规定的情形除外。", False),  # a reference that wrapped onto the line start
    ("2. 以上", False), ("附则规定的其他事项", False), ("总体要求", False),
])
def test_heading_start_is_the_grammar_of_block_headings(line, opens):
    assert heading_start(line) is opens


@pytest.mark.parametrize("name", ["张三", "王䶮", "𠮷明"])
def test_a_reporter_named_in_any_han_block_is_the_author(name):
    """The author rule reads \\p{Han}: 䶮 (Extension A) and 𠮷 (Extension B) are name characters."""
    from pipeline.extract.html import extract_html

    paragraph = "<p>" + "这是一篇新闻的正文段落，内容足够长以便被识别为正文，并且包含多个句子。" * 3 + "</p>"
    page = (f"<html><head><title>标题</title></head><body><article><h1>测试新闻标题</h1>"
            f"<div class='info'>2019-09-26 10:56 本报记者 {name}</div>{paragraph * 4}</article></body></html>").encode()
    assert extract_html(page, source="t").document.author == name
