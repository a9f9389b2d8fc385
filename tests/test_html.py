"""extract_html: real pages of the corpus (tests/data), rendered finews posts, synthetic pages, bad input."""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import random
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.extract.html import TZ_ASSUMED_WARNING, HtmlInputError, extract_html, parse_datetime
from pipeline.model import BlockKind
from tests.conftest import CORPUS, ROOT, SEED_POST

CORPUS_HTML = CORPUS / "html"
POSTS = CORPUS / "finews" / "posts"
CST = timezone(timedelta(hours=8))
MOJIBAKE = ("\ufffd", "鈥", "锛", "Ã", "â€")

TITLES = {
    "gov_npc_2007_special_treasury_bond_decision.html": (
        "全国人民代表大会常务委员会关于批准财政部发行特别国债购买外汇及调整2007年末国债余额限额的决议"
    ),
    "law_supervision_law_2018_html_chapters_articles.html": "中华人民共和国监察法",
    "news_163_money_2019-09-07_longfor.html": '多地项目连环爆雷 狂奔的龙湖集团"暗伤"曝露？',
    "news_hexun_2019-09-26_mot_jingjinji.html": "交通运输部：着力打造京津冀区域综合立体交通网络",
    "news_people_2019-06-15_meta_gb2312_bytes_utf8.html": "女儿出嫁，郑板桥画了几笔兰花当嫁妆",
    "news_sina_finance_2019-09-09_bond_bubble.html": "债券市场是否存在泡沫？世界知名首席投资官们这么说",
}

_cache: dict[str, object] = {}


def corpus(name: str):
    if name not in _cache:
        _cache[name] = extract_html((CORPUS_HTML / name).read_bytes(), source=name)
    return _cache[name]


def body_of(ex) -> str:
    return "\n".join(b.text for b in ex.blocks)


def html(body: str, head: str = "") -> bytes:
    return f"<html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>".encode()


PROSE = (
    "<p>国务院办公厅近日印发通知，要求各地区各部门进一步做好稳就业工作，切实保障和改善民生，推动经济持续健康发展。</p>"
    "<p>通知指出，要加大对中小微企业的支持力度，落实减税降费政策，稳定市场主体，扩大有效投资，促进消费回升。</p>"
)


# ------------------------------------------------------------------------------------------ corpus pages


@pytest.mark.parametrize("name", sorted(TITLES))
def test_corpus_page_title_and_no_mojibake(name):
    ex = corpus(name)
    assert ex.document.title == TITLES[name]
    assert ex.blocks
    text = body_of(ex)
    for bad in MOJIBAKE:
        assert bad not in text and bad not in ex.document.title
    assert ex.document.published_at is not None and ex.document.published_at.tzinfo is not None
    # the title is not repeated as the first body block
    assert ex.blocks[0].text != ex.document.title


def test_people_page_declaring_gb2312_decodes_as_utf8():
    ex = corpus("news_people_2019-06-15_meta_gb2312_bytes_utf8.html")
    assert ex.document.encoding == "utf-8"
    assert "encoding: meta says GB2312 but bytes are valid utf-8" in ex.document.warnings
    assert ex.document.published_at == datetime(2019, 6, 15, 8, 18, tzinfo=CST)
    assert TZ_ASSUMED_WARNING in ex.document.warnings
    assert ex.document.source_name == "人民网-文化频道"
    assert ex.document.author == "汤诗瑶、丁涛"
    text = body_of(ex)
    assert text.startswith("父亲的教诲像一盏灯")
    assert text.endswith("字里行间都是对儿子的爱。")
    for junk in ("推荐阅读", "点击进入", "【1】", "责编", "分享到"):
        assert junk not in text
    assert len(ex.document.images) == 2 and all("NMediaFile" in i.src for i in ex.document.images)


def test_law_page_chapters_and_articles():
    ex = corpus("law_supervision_law_2018_html_chapters_articles.html")
    assert ex.document.tables == []  # 16 layout tables, none is data
    texts = [b.text for b in ex.blocks]
    chapters = [t for t in texts if re.match(r"^第[一二三四五六七八九十]+章", t)]
    assert chapters == [
        "第一章　总　则",
        "第二章　监察机关及其职责",
        "第三章　监察范围和管辖",
        "第四章　监察权限",
        "第五章　监察程序",
        "第六章　反腐败国际合作",
        "第七章　对监察机关和监察人员的监督",
        "第八章　法律责任",
        "第九章　附　则",
    ]
    articles = [t for t in texts if re.match(r"^第[一二三四五六七八九十百]+条\u3000", t)]
    assert len(articles) == 69
    assert articles[0].startswith("第一条　为了深化国家监察体制改革")
    assert articles[-1] == "第六十九条　本法自公布之日起施行。《中华人民共和国行政监察法》同时废止。"
    assert texts.index("第一章　总　则") < texts.index(articles[0])
    assert ex.document.published_at == datetime(2018, 5, 17, tzinfo=CST)
    assert "纪检监察" not in texts and "■ 纪检监察" not in texts


def test_gov_gazette_page():
    ex = corpus("gov_npc_2007_special_treasury_bond_decision.html")
    texts = [b.text for b in ex.blocks]
    assert texts[0] == "（2007年6月29日第十届全国人民代表大会常务委员会第二十八次会议通过）"
    assert "批准发行15500亿元特别国债购买外汇" in texts[1]
    assert len(texts) == 2
    assert ex.document.categories == ["国务院公报", "2007年第23号"]
    assert ("title", TITLES["gov_npc_2007_special_treasury_bond_decision.html"]) in [
        (r.reason, r.text) for r in ex.removed
    ]


def test_163_page_metadata():
    ex = corpus("news_163_money_2019-09-07_longfor.html")
    assert ex.document.published_at == datetime(2019, 9, 7, 13, 43, 45, tzinfo=CST)
    assert ex.document.source_name == "证券市场红周刊"
    assert ex.document.author == "杨倩"
    assert ex.document.tags == ["龙湖集团", "龙湖", "吴亚军", "开发商"]
    headings = [b.text for b in ex.blocks if b.kind is BlockKind.HEADING]
    assert headings[:2] == ["业绩会突现业主维权插曲", "昔日“龙湖质量”遭质疑"]
    assert "本文来源" not in body_of(ex)


def test_sina_page_drops_promos_and_keeps_image_reference():
    ex = corpus("news_sina_finance_2019-09-09_bond_bubble.html")
    text = body_of(ex)
    assert ex.document.source_name == "新浪财经-自媒体综合"
    assert ex.document.author == "郭明煜"
    assert (
        ex.document.canonical_url == "https://finance.sina.com.cn/stock/usstock/c/2019-09-09/doc-iicezzrq4681677.shtml"
    )
    for junk in ("安装新浪财经客户端", "免责声明", "责任编辑", "年内暴涨近100％", "关注公众号"):
        assert junk not in text
    assert text.endswith("并通过同时购买政府和企业债券重启量化宽松。（完）")
    assert [(i.src, i.caption) for i in ex.document.images] == [
        ("https://n.sinaimg.cn/finance/crawl/116/w550h366/20190909/632d-iekuaqt0614232.jpg", "图/pixabay")
    ]
    assert "disclaimer" in {r.reason for r in ex.removed}


def test_hexun_page():
    ex = corpus("news_hexun_2019-09-26_mot_jingjinji.html")
    assert [b.text[:9] for b in ex.blocks] == ["据财联社9月26日"]
    assert ex.document.published_at == datetime(2019, 9, 26, 10, 56, 28, tzinfo=CST)
    assert "encoding: meta says gb2312 but bytes are valid utf-8" in ex.document.warnings


def test_removed_lines_carry_reasons():
    ex = corpus("news_163_money_2019-09-07_longfor.html")
    reasons = {r.reason for r in ex.removed}
    assert {"navigation", "script", "style", "comment", "share_widget", "title", "dateline"} <= reasons
    assert all(r.text and r.page is None for r in ex.removed)


# ------------------------------------------------------------------------------------------ rendered posts


def _bench():
    spec = importlib.util.spec_from_file_location("html_quality", ROOT / "bench" / "html_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _bench()


@pytest.mark.parametrize("path", sorted(POSTS.glob("*.md")), ids=lambda p: p.name)
def test_rendered_finews_post(bench, path):
    """Every post rendered with the site's layout (og:description spill included) extracts cleanly."""
    fm, _ = bench.split_post(path.read_text("utf-8"))
    ex = extract_html(bench.render_post(path), source=path.name)
    assert ex.document.title == (fm.get("title", "").strip() or None)
    text = body_of(ex)
    assert "返回" not in text and "tags:" not in text and "GMT+8" not in text and "金融消息" not in text
    for bad in MOJIBAKE:
        assert bad not in text
    # the article spilled out of the broken og:description attribute is not counted twice
    paragraphs = [b.text for b in ex.blocks]
    assert len(paragraphs) == len(set(paragraphs))
    assert bench.char_f1(text, bench.reference_text(path)) >= 0.98
    if fm.get("date", "").strip() not in ("", "+0800"):
        assert ex.document.published_at is not None and ex.document.published_at.utcoffset() == timedelta(hours=8)


def test_rendered_seed_post(bench):
    ex = extract_html(bench.render_post(SEED_POST), source="seed")
    assert ex.document.title == "广州-梅州签署金融合作协议 ：双方将加强金融科技创新与监管等领域的合作"
    assert ex.document.published_at == datetime(2022, 5, 26, 14, 18, 58, tzinfo=CST)
    assert ex.document.source_name == "21世纪经济报道"
    assert ex.document.tags == ["21世纪经济报道新闻"]
    assert ex.document.original_url == "http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW202205262392991347"
    assert ex.document.canonical_url.startswith("https://finews.withounder.com/21shijijingjibaodao/2022/05/26/")
    assert [b.text for b in ex.blocks if b.text[1:2] == "、"] == [
        b.text for b in ex.blocks if re.match("^[一二三四五六七八]、", b.text)
    ]
    assert sum(bool(re.match("^[一二三四五六七八]、", b.text)) for b in ex.blocks) == 8
    assert any("spilled" in w for w in ex.document.warnings)


# ------------------------------------------------------------------------------------------ synthetic pages


def test_data_table_with_spans_caption_and_layout_table():
    table = (
        "<table><caption>表1　主要指标</caption>"
        "<tr><th>地区</th><th colspan='2'>收入（亿元）</th></tr>"
        "<tr><td rowspan='2'>广州</td><td>2021</td><td>100</td></tr>"
        "<tr><td>2022</td><td>120</td></tr>"
        "<tr><td>梅州</td><td>2022</td><td>30</td></tr></table>"
    )
    layout = f"<table><tr><td>{PROSE}</td></tr></table>"
    ex = extract_html(html(f"<div>{layout}{table}<p>以上数据来自统计公报，仅供参考。</p></div>"), source="t")
    assert len(ex.document.tables) == 1
    t = ex.document.tables[0]
    assert (t.table_id, t.kind, t.caption) == ("t1", "html", "表1　主要指标")
    assert t.header == ["地区", "收入（亿元）", "收入（亿元）"]
    assert t.rows == [["广州", "2021", "100"], ["广州", "2022", "120"], ["梅州", "2022", "30"]]
    kinds = [b.kind for b in ex.blocks]
    assert kinds == [BlockKind.PARAGRAPH, BlockKind.PARAGRAPH, BlockKind.TABLE, BlockKind.PARAGRAPH]
    assert ex.blocks[2].table is t  # the table block carries its table


def test_table_caption_from_preceding_line():
    table = "<table><tr><td>项目</td><td>金额</td></tr><tr><td>收入</td><td>10</td></tr></table>"
    ex = extract_html(html(f"<div>{PROSE}<p>附表：收支情况</p>{table}</div>"), source="t")
    assert ex.document.tables[0].caption == "附表：收支情况"
    assert ex.document.tables[0].header == ["项目", "金额"]


def test_headings_and_strong_paragraphs():
    page = html(
        "<article><h1>文章标题在这里</h1><h2>一、总体要求</h2>"
        f"<p><strong>加强组织领导</strong></p>{PROSE}<p><b>注：</b>本文为节选。</p></article>",
        head="<title>文章标题在这里_某某网</title>",
    )
    ex = extract_html(page, source="t")
    assert ex.document.title == "文章标题在这里"
    assert [(b.kind, b.heading_level, b.text) for b in ex.blocks[:2]] == [
        (BlockKind.HEADING, 2, "一、总体要求"),
        (BlockKind.HEADING, 7, "加强组织领导"),
    ]
    assert ex.blocks[-1].kind is BlockKind.PARAGRAPH  # partly bold is not a heading


def test_br_splits_blocks_but_not_inside_strong():
    page = html(
        "<div><p align='center'><strong>关于印发<br>\n实施方案的通知</strong><br>（2022年1月1日）</p>"
        f"{PROSE}<p>第一行内容写在这里，<br>第二行内容写在这里。</p></div>"
    )
    texts = [b.text for b in extract_html(page, source="t").blocks]
    assert texts[:2] == ["关于印发实施方案的通知", "（2022年1月1日）"]
    assert texts[-2:] == ["第一行内容写在这里，", "第二行内容写在这里。"]


def test_boilerplate_lines_are_removed_with_reasons():
    page = html(
        "<div class='nav'><a href='/'>首页</a><a href='/a'>新闻</a><a href='/b'>财经</a></div>"
        "<div class='article'>"
        "<p>2022-05-26 14:18　来源：新华社　作者：张三</p>"
        f"{PROSE}"
        "<p style='display:none'>隐藏的文字</p>"
        "<div class='share'>分享到：<a href='#'>微信</a><a href='#'>微博</a></div>"
        "<p>原文链接：<a href='http://orig.example.com/a.html'>http://orig.example.com/a.html</a></p>"
        "<p>（责任编辑：李四）</p>"
        "<p><a href='/list'>返回列表</a></p>"
        "<!-- 广告位 --><script>var x = 1;</script><style>p{}</style>"
        "</div><div class='footer'>Copyright © 2022 某某网 版权所有</div>",
        head="<link rel='canonical' href='https://example.com/a.html'>",
    )
    ex = extract_html(page, source="t")
    assert [b.text for b in ex.blocks] == [
        "国务院办公厅近日印发通知，要求各地区各部门进一步做好稳就业工作，切实保障和改善民生，推动经济持续健康发展。",
        "通知指出，要加大对中小微企业的支持力度，落实减税降费政策，稳定市场主体，扩大有效投资，促进消费回升。",
    ]
    assert ex.document.published_at == datetime(2022, 5, 26, 14, 18, tzinfo=CST)
    assert TZ_ASSUMED_WARNING in ex.document.warnings
    assert ex.document.source_name == "新华社"
    assert ex.document.author == "张三"
    assert ex.document.canonical_url == "https://example.com/a.html"
    assert ex.document.original_url == "http://orig.example.com/a.html"
    reasons = {r.text: r.reason for r in ex.removed}
    assert reasons["隐藏的文字"] == "hidden"
    assert reasons["返回列表"] == "back_link"
    assert reasons["广告位"] == "comment"
    assert reasons["var x = 1;"] == "script"
    assert reasons["（责任编辑：李四）"] == "editor_line"
    assert reasons["分享到：微信微博"] == "share_widget"
    assert reasons["Copyright © 2022 某某网 版权所有"] == "footer"


def _comment_page(box_class: str, heading: str) -> bytes:
    comments = "".join(
        f"<li class='item'><a href='/u/{i}'>用户{i}</a><div class='txt'>这是第{i}条网友评论，内容比较长，"
        f"讨论了芯片产业的发展，认为国家一定会啃下这个硬骨头，大家拭目以待吧。</div><div class='ops'>"
        f"<a href='#'>举报</a><a href='#'>回复</a><a href='#'>赞</a></div></li>"
        for i in range(30)
    )
    return html(
        f"<div class='main'><h1>芯片进口突破三千亿美元</h1><div class='txt-body'>{PROSE}</div>"
        f"<div class='{box_class}'><h3>{heading}</h3><ul>{comments}</ul></div></div>"
    )


@pytest.mark.parametrize(
    ("box_class", "heading"), [("gc-comment", "评论"), ("box-b", "我要评论"), ("box-b", "全部评论 30条")]
)
def test_comment_thread_longer_than_the_article_is_not_article_text(box_class, heading):
    ex = extract_html(_comment_page(box_class, heading), source="t")
    assert [b.text[:6] for b in ex.blocks] == ["国务院办公厅", "通知指出，要"]
    assert "comments" in {r.reason for r in ex.removed}


def test_related_heading_before_the_article_in_the_same_parent_does_not_hide_it():
    links = "".join(f"<li><a href='/n/{i}'>另一条热点新闻的标题{i}</a></li>" for i in range(8))
    article = PROSE + PROSE.replace("国务院办公厅近日", "省政府办公厅随后").replace("通知指出", "文件强调")
    ex = extract_html(html(f"<div><h3>热点新闻</h3><ul>{links}</ul><div>{article}</div></div>"), source="t")
    assert len(ex.blocks) == 4 and ex.blocks[0].text.startswith("国务院办公厅")


def test_article_container_with_a_misleading_class_is_kept():
    nav = "".join(f"<a href='/c/{i}'>频道{i}</a>" for i in range(10))
    page = html(f"<div class='nav'>{nav}</div><div class='article-body share-area'>{PROSE}</div><p>页脚</p>")
    assert [b.text[:6] for b in extract_html(page, source="t").blocks] == ["国务院办公厅", "通知指出，要"]


def test_meta_metadata_and_absolute_image_src():
    head = (
        "<meta property='og:title' content='新闻标题'>"
        "<meta property='article:published_time' content='2022-05-26T06:18:58Z'>"
        "<meta name='keywords' content='金融,合作，监管'>"
        "<meta property='article:section' content='财经'>"
        "<title>新闻标题-某某网</title>"
    )
    body = f"<div>{PROSE}<center><img src='/img/a.jpg' alt='会场'></center><p style='text-align:center'>签约现场</p></div>"
    ex = extract_html(html(body, head), source="t", url="https://news.example.com/2022/a.html")
    assert ex.document.title == "新闻标题"
    assert ex.document.published_at == datetime(2022, 5, 26, 6, 18, 58, tzinfo=UTC)
    assert TZ_ASSUMED_WARNING not in ex.document.warnings
    assert ex.document.tags == ["金融", "合作", "监管"]
    assert ex.document.categories == ["财经"]
    assert ex.document.url == "https://news.example.com/2022/a.html"
    assert [(i.src, i.alt, i.caption) for i in ex.document.images] == [
        ("https://news.example.com/img/a.jpg", "会场", "签约现场")
    ]
    assert "签约现场" not in body_of(ex)


@pytest.mark.parametrize(
    ("text", "expected", "has_time", "has_tz"),
    [
        ("2022-05-26 14:18", datetime(2022, 5, 26, 14, 18), True, False),
        ("2022年5月26日", datetime(2022, 5, 26), False, False),
        ("2019年06月15日08:18  来源：人民网", datetime(2019, 6, 15, 8, 18), True, False),
        ("发布时间：2022/05/26 14:18:58", datetime(2022, 5, 26, 14, 18, 58), True, False),
        ("2007-08-20-23:59:59", datetime(2007, 8, 20, 23, 59, 59), True, False),
        ("2019-09-07T13:43:45+08:00", datetime(2019, 9, 7, 13, 43, 45, tzinfo=CST), True, True),
        (
            "(GMT+8, Asia/Shanghai, CST) 2022-05-26 14:18:58",
            datetime(2022, 5, 26, 14, 18, 58, tzinfo=CST),
            True,
            True,
        ),
        ("2022-13-45", None, False, False),
        ("没有日期", None, False, False),
    ],
)
def test_parse_datetime(text, expected, has_time, has_tz):
    assert parse_datetime(text) == (expected, has_time, has_tz)


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("data", "reason", "words"),
    [
        (b"", "empty", "empty body"),
        (b"  \r\n\t ", "empty", "empty body"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "not_html", "PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not_html", "PNG"),
        (gzip.compress(b"<html><body><p>x</p></body></html>"), "not_html", "gzip"),
        (b'{"code": 0, "data": [1, 2, 3]}', "not_html", "JSON"),
        ("只有一段纯文本，没有任何标记。".encode(), "not_html", "no HTML markup"),
        (random.Random(7).randbytes(4000), "binary", "binary data"),
        (html("<ul>" + "".join(f"<li><a href='/{i}'>栏目{i}</a></li>" for i in range(30)) + "</ul>"), "no_article",
         "no article text"),
        (html("<script>var s = '正文内容';</script>"), "no_article", "no article text"),
        (html("<div>" * 3000 + PROSE + "</div>" * 3000), "too_complex", "nested deeper"),
    ],
    ids=["empty", "whitespace", "pdf", "png", "gzip", "json", "plain-text", "garbage", "nav-only",
         "script-only", "nested-3000"],
)  # fmt: skip
def test_bad_input_raises_html_input_error(data, reason, words):
    with pytest.raises(HtmlInputError) as err:
        extract_html(data, source="bad")
    assert err.value.reason == reason
    assert words in str(err.value)


def test_recoverable_markup_is_extracted():
    cases = {
        "nul-bytes": html(PROSE.replace("<p>", "<p>\x00")),
        "nul-padding": b"\x00" * 5000 + html(PROSE) + b"\x00" * 8192,
        "truncated": html(PROSE + "<p>最后一段没有结束标签，页面在这里被截断了，")[:-30],
        "unclosed": ("<html><body><div><p>" + PROSE + "<p class='x").encode(),
        "stray-end-html": html("<div>页眉</div></html>" + PROSE),
        "xml-declaration": b'<?xml version="1.0" encoding="gbk"?>' + html(PROSE),
        "tables-50-deep": html("<table><tr><td>" * 50 + PROSE + "</td></tr></table>" * 50),
        "megabyte-line": html("<p>" + "很长的一行文字，" * 130_000 + "</p>"),
        "bad-char-refs": html(PROSE + "<p>&#xD800;&#0;&#x110000;正常文字。</p>"),
        "span-bomb": html(PROSE + "<table><tr><td colspan='99999'>a</td><td>b</td></tr><tr><td>c</td><td>d</td>"
                          "<td>e</td></tr></table>"),
    }  # fmt: skip
    for name, data in cases.items():
        ex = extract_html(data, source=name)
        assert "国务院办公厅近日印发通知" in body_of(ex) or name == "megabyte-line", name
        assert ex.blocks, name
    deep = extract_html(cases["tables-50-deep"], source="deep")
    assert deep.document.tables == []
    assert len(body_of(extract_html(cases["megabyte-line"], source="long"))) > 1_000_000


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_crash(data):
    with contextlib.suppress(HtmlInputError):
        extract_html(data, source="fuzz")


_TOKENS = st.sampled_from(
    ["<p>", "</p>", "<div class='share'>", "</div>", "<table>", "<tr>", "<td rowspan=3>", "</td>", "<br>", "<b>",
     "</b>", "<a href='x'>", "</a>", "<img src=a.jpg>", "<!--", "-->", "<script>", "</script>", "\x00", "&#0;",
     "<meta content=\"<p>\" x=\"", "<title>", "</html>", "第一条　规定如下，", "新闻内容。", "返回首页", "\n"]
)  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TOKENS, max_size=80))
def test_arbitrary_tag_soup_never_crashes(tokens):
    try:
        ex = extract_html("".join(tokens).encode(), source="soup")
    except HtmlInputError:
        return
    assert all(b.text or b.kind is BlockKind.TABLE for b in ex.blocks)


@pytest.mark.parametrize(("date_line", "source"), [
    ("2019-09-26 10:56:28 证券时报网", "证券时报网"),  # the corpus hexun page prints its source so
    ("2022年05月26日 14:18 | 上海证券报", "上海证券报"),
    ("2019-09-26 10:56 阅读 1234", None),
    ("2019-09-26 10:56 本报记者 张三", None),
])
def test_a_source_printed_beside_the_date_without_a_label(date_line, source):
    paragraph = "<p>" + "这是一篇新闻的正文段落，内容足够长以便被识别为正文，并且包含多个句子。" * 3 + "</p>"
    page = (f"<html><head><title>标题</title></head><body><article><h1>测试新闻标题</h1>"
            f"<div class='info'>{date_line}</div>{paragraph * 4}</article></body></html>").encode()
    assert extract_html(page, source="t").document.source_name == source


def test_the_hexun_page_names_its_source_beside_its_date():
    assert corpus("news_hexun_2019-09-26_mot_jingjinji.html").document.source_name == "证券时报网"
