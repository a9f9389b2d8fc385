"""extract_post: front-matter posts (seed 000 and the finews corpus, with every listed irregularity)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.extract.html import TZ_ASSUMED_WARNING, HtmlInputError
from pipeline.extract.post import extract_post, markdown_to_html, split_front_matter
from pipeline.model import BlockKind
from tests.conftest import CORPUS, SEED_POST

SEED = SEED_POST
POSTS = CORPUS / "finews" / "posts"
CST = timezone(timedelta(hours=8))
MOJIBAKE = ("\ufffd", "鈥", "锛", "Ã", "â€")



def post(body: str, *, title: str = "标题", date: str = "2022-05-26 14:18:58 +0800", lead: str = "") -> bytes:
    return (
        f'{lead}---\nlayout: post\ntitle: "{title}"\ndate: {date}\ncategories: emnews\ntags: 东财滚动新闻\n---\n{body}'
    ).encode()


@pytest.fixture(scope="module")
def seed():
    return extract_post(SEED.read_bytes(), source=str(SEED))


def test_seed_metadata(seed):
    assert seed.document.title == "广州-梅州签署金融合作协议 ：双方将加强金融科技创新与监管等领域的合作"
    assert seed.document.published_at == datetime(2022, 5, 26, 14, 18, 58, tzinfo=CST)
    assert seed.document.published_at.utcoffset() == timedelta(hours=8)
    assert seed.document.source_name == "21世纪经济报道"
    assert seed.document.categories == ["21shijijingjibaodao"]
    assert seed.document.tags == ["21世纪经济报道新闻"]
    assert (
        seed.document.original_url == "http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW202205262392991347"
    )
    assert seed.document.warnings == []
    assert seed.document.encoding == "utf-8"


def test_seed_outline_paragraphs_are_blocks_of_their_own(seed):
    texts = [b.text for b in seed.blocks]
    for marker, heading in zip(
        "一二三四五六七八",
        [
            "推动两市各类金融机构互联互通",
            "开展多层次资本市场开发合作",
            "促进金融机构服务实体经济",
            "促进绿色金融服务绿色发展",
            "共同打造产业共建金融生态圈",
            "加大金融科技创新与监管合作",
            "联合开展金融投资促进活动",
            "深化金融人才培养交流合作",
        ],
        strict=True,
    ):
        assert texts.count(f"{marker}、{heading}") == 1
    assert [b.text[:2] for b in seed.blocks if b.text[1:2] == "、"] == [f"{c}、" for c in "一二三四五六七八"]
    strong = [b for b in seed.blocks if b.kind is BlockKind.HEADING]
    assert [(b.text, b.heading_level) for b in strong] == [("以下为战略合作框架协议主要内容：", 7)]
    assert texts[0].startswith("5月26日，21世纪经济报道记者从广州金融局获悉")
    assert texts[-1].endswith("共同推进梅州高层次金融人才队伍和政府金融决策咨询专家库建设。")


def test_seed_navigation_and_source_line_leave_the_body(seed):
    body = "\n".join(b.text for b in seed.blocks)
    assert "返回" not in body
    assert "文章来源" not in body and "finews" not in body
    removed = [(r.reason, r.text) for r in seed.removed]
    assert ("back_link", "返回21世纪经济报道新闻") in removed
    assert ("back_link", "返回首页") in removed
    assert ("source_line", "（文章来源：21世纪经济报道）") in removed


@pytest.mark.parametrize("path", sorted(POSTS.glob("*.md")), ids=lambda p: p.name)
def test_every_corpus_post(path):
    fm, _, _ = split_front_matter(path.read_text("utf-8"))
    ex = extract_post(path.read_bytes(), source=path.name)
    assert ex.document.title == (fm["title"].strip() or None)
    assert ex.blocks, "no body blocks"
    body = "\n".join(b.text for b in ex.blocks)
    for bad in MOJIBAKE:
        assert bad not in body and bad not in (ex.document.title or "")
    assert "返回" not in body and "http" not in body
    assert ex.document.categories and ex.document.tags
    assert all(b.text for b in ex.blocks if b.kind is not BlockKind.TABLE)


def test_post_without_date_in_name_and_empty_front_matter():
    """Irregularity 2: empty title, ``date:  +0800`` and an empty ``<>`` autolink."""
    ex = extract_post((POSTS / "-202205262391921712.md").read_bytes(), source="x")
    assert ex.document.title is None
    assert ex.document.published_at is None
    assert ex.document.original_url is None
    assert "front matter has no title (empty or missing)" in ex.document.warnings
    assert any(w.startswith("no publish date") for w in ex.document.warnings)
    assert "empty original-article link <> in the footer" in ex.document.warnings


def test_eastmoney_body_irregularities():
    """Irregularities 3, 5, 6, 7: summary line, hidden <p>, stock chart, images with captions, keytip
    links, split source line."""
    ex = extract_post((POSTS / "-202205262391921712.md").read_bytes(), source="x")
    body = "\n".join(b.text for b in ex.blocks)
    reasons = {r.reason for r in ex.removed}
    assert {"summary_duplicate", "stock_chart", "source_line", "back_link"} <= reasons
    # the summary repeats the body: its text is in the body exactly once
    assert body.count("霍尼韦尔宣布为蔚来旗下ET7新能源汽车提供HFO-1234yf(四氟丙烯)制冷剂") == 1
    # company names in keytip links / span web=1 stay article text
    assert "具体来看，巨化股份、联创股份已有HFO-1234yf产品，国新文化控股子公司" in body
    assert "联创股份在投资者互动平台表示" in body
    assert "K图" not in body and "图片来源" not in body
    assert ex.document.source_name == "上海证券报"
    assert [i.src.rsplit("/", 1)[-1] for i in ex.document.images] == [
        "D24676903417074885805_w800h555.jpg",
        "D25494894506139150182_w800h343.jpg",
        "D25183467508852035766_w800h192.jpg",
    ]
    assert ex.document.images[0].caption == "图片来源：霍尼韦尔官网"
    assert ex.document.images[0].alt == "Image"
    headings = [b.text for b in ex.blocks if b.kind is BlockKind.HEADING]
    assert headings == ["什么是HFO-1234yf", "这些公司有HFO-1234yf产品"]


def test_blank_line_before_front_matter_is_tolerated():
    """Irregularity 1."""
    ex = extract_post((POSTS / "2021-12-08-202112082206703990.md").read_bytes(), source="x")
    assert ex.document.title == "FF：有充足的现金支持到FF 91完成投产"
    assert any("blank line before the front matter" in w for w in ex.document.warnings)
    assert ex.document.original_url == "http://stock.eastmoney.com/news/1611,202112082206703990.html"


def test_date_without_offset_assumes_cst_with_warning():
    ex = extract_post(post("正文内容。", date="2021-12-08 10:45:17"), source="x")
    assert ex.document.published_at == datetime(2021, 12, 8, 10, 45, 17, tzinfo=CST)
    assert TZ_ASSUMED_WARNING in ex.document.warnings


def test_date_with_other_offset_is_kept():
    ex = extract_post(post("正文内容。", date="2021-12-08 10:45:17 -0500"), source="x")
    assert ex.document.published_at.utcoffset() == timedelta(hours=-5)
    assert TZ_ASSUMED_WARNING not in ex.document.warnings


@pytest.mark.parametrize(
    "footer",
    [
        "",
        "<http://x.cn/a.html>\n\n[返回东财滚动新闻](../emnews/)\n[返回首页](../)",
        "<http://x.cn/a.html>\n\n[返回东财滚动新闻](//finews.withounder.com/emnews/)\n[返回首页](//finews.withounder.com/)",
        "<http://x.cn/a.html>\n\n[返回东财滚动新闻](//finews.withounder.com/emnews/)｜[返回首页](//finews.withounder.com/)",
        "<http://x.cn/a.html>",
    ],
    ids=["none", "relative", "absolute", "joined", "url-only"],
)
def test_footer_styles(footer):
    """Irregularity 8: five footer styles, no trailing newline."""
    ex = extract_post(post(f"\n正文第一段。\n\n{footer}"), source="x")
    assert [b.text for b in ex.blocks] == ["正文第一段。"]
    assert ex.document.original_url == ("http://x.cn/a.html" if footer else None)
    back = [r.text for r in ex.removed if r.reason == "back_link"]
    assert back == (["返回东财滚动新闻", "返回首页"] if "返回" in footer else [])


def test_one_line_html_body_and_split_source_line():
    body = (
        '<p>第一段<span id="stock_1"><a href="http://q/1" class="keytip">巨化股份</a></span><span id="quote_1"></span>'
        "上涨。</p>\n <p>第二段。</p><p class=\"em_media\">（文章来源：上海<a href='http://q/2'>证券</a>报）</p>"
    )
    ex = extract_post(post(body), source="x")
    assert [b.text for b in ex.blocks] == ["第一段巨化股份上涨。", "第二段。"]
    assert ex.document.source_name == "上海证券报"


def test_summary_that_is_not_repeated_is_kept():
    ex = extract_post(
        post("> 这是一段独立的摘要，正文里没有。\n\n<p>正文完全不同的内容在这里。</p>"), source="x"
    )
    assert [b.text for b in ex.blocks] == ["这是一段独立的摘要，正文里没有。", "正文完全不同的内容在这里。"]


def test_front_matter_that_is_not_yaml_falls_back_to_lines():
    data = (
        "---\ntitle: 标题: 带冒号 [未闭合\ndate: 2022-01-02 03:04:05 +0800\ntags: a b\n---\n正文。".encode()
    )
    ex = extract_post(data, source="x")
    assert ex.document.title == "标题: 带冒号 [未闭合"
    assert ex.document.tags == ["a", "b"]
    assert any("not valid YAML" in w for w in ex.document.warnings)


def test_markdown_subset():
    html = markdown_to_html("第一行\n第二行 [链接](http://a) <http://b>\n\n<p>原样</p>\n\n> 摘要")
    assert html == (
        '<p>第一行\n第二行 <a href="http://a">链接</a> <a href="http://b">http://b</a></p>\n'
        "<p>原样</p>\n<blockquote><p>摘要</p></blockquote>"
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"%PDF-1.4\n...", "not_html"),
        (bytes(range(256)) * 20, "binary"),
        (b"---\ntitle: x\n---\n\n", "no_article"),
        ("---\ntitle: x\n---\n<>\n\n[返回首页](../)".encode(), "no_article"),
    ],
)
def test_bad_posts_raise_html_input_error(data, reason):
    with pytest.raises(HtmlInputError) as err:
        extract_post(data, source="bad")
    assert err.value.reason == reason
    assert str(err.value)
