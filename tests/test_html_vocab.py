"""The site vocabulary of the HTML extractor (``pipeline/extract/html/vocab.py``), pinned group by group.

Each test puts an entry where it matters, in a small page (or, for a pattern whose effect needs a long page, a
string), and asserts what the extractor makes of it. The words are written out here, not read from
``vocab.py``, so that removing or changing an entry fails a test; an entry added to ``vocab.py`` should get
its case here. Where an entry comes from a corpus page, the case uses that page's wording.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.extract.html import extract_html
from pipeline.extract.html.meta import strip_site_suffix, unlabelled_source
from pipeline.model import BlockKind

CST = timezone(timedelta(hours=8))

P1 = "国务院办公厅近日印发通知，要求各地区各部门进一步做好稳就业工作，切实保障和改善民生，推动经济持续健康发展。"
P2 = "通知指出，要加大对中小微企业的支持力度，落实减税降费政策，稳定市场主体，扩大有效投资，促进消费回升。"
PROSE = f"<p>{P1}</p><p>{P2}</p>"
LABEL = (
    "栏目文字内容"  # short text with no punctuation: article text unless a vocabulary entry says otherwise
)


def page(article: str = PROSE, *, head: str = "<title>测试标题</title>", after: str = "") -> bytes:
    """A page whose article container is ``<div class='main'>`` holding ``article``; ``after`` follows it."""
    return (
        f"<html><head><meta charset='utf-8'>{head}</head>"
        f"<body><div class='main'>{article}</div>{after}</body></html>"
    ).encode()


def extract(data: bytes, **kw):
    return extract_html(data, source="vocab", **kw)


def texts(ex) -> list[str]:
    return [b.text for b in ex.blocks]


def reason_of(ex, text: str) -> str | None:
    return next((r.reason for r in ex.removed if r.text == text), None)


def test_the_plain_page_keeps_its_label_line():
    """The control for the furniture tests below: without a vocabulary entry the short line is article text."""
    ex = extract(page(f"{PROSE}<div class='box'>{LABEL}</div>"))
    assert texts(ex) == [P1, P2, LABEL]
    assert ex.document.title == "测试标题"


# ------------------------------------------------------------------------------------------ furniture hints


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        ("x-breadcrumb-y", "navigation"),
        ("post_crumb", "navigation"),
        ("pageinfo pagination", "navigation"),
        ("x-navbar-y", "navigation"),
        ("header_toolbar", "navigation"),
        ("footer_copyright", "footer"),
        ("footer-wrap", "footer"),
        ("ops_share", "share_widget"),
        ("x-social-y", "share_widget"),
        ("js_qrcode_arr", "share_widget"),
        ("post_comment", "comments"),
        ("blk-related", "related"),
        ("post_recommend", "related"),
        ("fc_sidebar", "sidebar"),
        ("x-advert-y", "advertisement"),
        ("link-sponsored", "advertisement"),
        ("hero-slider", "related"),
        ("x-carousel-y", "related"),
        ("swiper-container", "related"),
    ],
)
def test_class_substring_names_furniture(cls, kind):
    ex = extract(page(f"{PROSE}<div class='{cls}'>{LABEL}</div>"))
    assert texts(ex) == [P1, P2]
    assert reason_of(ex, LABEL) == kind


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        ("top_nav", "navigation"),
        ("tabs-menu", "navigation"),
        ("cardlist-a__pager", "navigation"),
        ("ntes_foot_link", "footer"),
        ("ad top-ad", "advertisement"),
        ("ads", "advertisement"),
        ("top-banner", "advertisement"),
        ("promo", "advertisement"),
        ("box_hot", "related"),
        ("rank-list", "related"),
        ("right-side-ad", "sidebar"),
        ("tags", "tags"),
    ],
)
def test_class_word_names_furniture(cls, kind):
    ex = extract(page(f"{PROSE}<div class='{cls}'>{LABEL}</div>"))
    assert texts(ex) == [P1, P2]
    assert reason_of(ex, LABEL) == kind


@pytest.mark.parametrize("cls", ["header-box", "navy-blue", "loading-ads2", "shotgun"])
def test_class_words_match_only_as_whole_words(cls):
    """``ad`` in ``header``, ``nav`` in ``navy``, ``ads`` in ``ads2``, ``hot`` in ``shotgun`` name nothing."""
    assert texts(extract(page(f"{PROSE}<div class='{cls}'>{LABEL}</div>"))) == [P1, P2, LABEL]


@pytest.mark.parametrize(("tag", "kind"), [("nav", "navigation"), ("footer", "footer"), ("aside", "sidebar"),
                                           ("menu", "navigation")])  # fmt: skip
def test_html5_elements_are_furniture(tag, kind):
    ex = extract(page(f"{PROSE}<{tag}>{LABEL}</{tag}>"))
    assert texts(ex) == [P1, P2]
    assert reason_of(ex, LABEL) == kind


@pytest.mark.parametrize("cls", ["hidden", "hide", "sr-only", "visually-hidden", "box HIDE"])
def test_hiding_classes(cls):
    ex = extract(page(f"{PROSE}<p class='{cls}'>{LABEL}</p>"))
    assert texts(ex) == [P1, P2]
    assert reason_of(ex, LABEL) == "hidden"


def test_a_class_that_only_starts_with_hidden_does_not_hide():
    """Bootstrap's ``hidden-xs`` hides on small screens only: the text is shown."""
    assert texts(extract(page(f"{PROSE}<p class='hidden-xs'>{LABEL}</p>"))) == [P1, P2, LABEL]


# ------------------------------------------------------------------------------------------ images


@pytest.mark.parametrize(
    "src",
    ["/images/next_page.jpg", "/img/prev.gif", "/a/arrow-left.png", "/i/icon_1234.png", "/i/icon-cmnt.png",
     "/s/btn_print.gif", "/s/button.png", "/s/hexun_logo.gif", "/s/logo01.png", "/s/spacer.gif", "/s/blank.gif",
     "/s/pixel.png", "/s/loading.svg", "/s/previous.jpeg"],
)  # fmt: skip
def test_decoration_images_are_not_article_images(src):
    ex = extract(page(f"{PROSE}<p><img src='{src}'></p><p><img src='/photo/meeting.jpg'></p>"))
    assert [i.src for i in ex.document.images] == ["/photo/meeting.jpg"]


@pytest.mark.parametrize(
    ("img", "removed_text"),
    [
        ("<img src='http://webquote.eastmoney.com/images/chart.png' alt='蔚来'>", "蔚来"),
        ("<img src='http://pifm.eastmoney.com/EM_Finance2014PictureInterface/GetPic.aspx?id=1'>",
         "http://pifm.eastmoney.com/EM_Finance2014PictureInterface/GetPic.aspx?id=1"),
        ("<img src='http://x.example.com/minchart/600519.png'>", "http://x.example.com/minchart/600519.png"),
        ("<img src='http://x.example.com/kline/600519.png'>", "http://x.example.com/kline/600519.png"),
        ("<img src='/a.png' alt='贵州茅台K线图'>", "贵州茅台K线图"),
        ("<img src='/a.png' alt='贵州茅台分时图'>", "贵州茅台分时图"),
        ("<img src='/a.png' alt='日k图'>", "日k图"),
        ("<a class='EmImageRemark' href='http://x.example.com/unify/r/106.NIO'><img src='/b.png' alt='NIO'></a>",
         "NIO"),
        ("<a href='http://quote.eastmoney.com/sh600519.html'><img src='/c.png' alt='K-600519'></a>", "K-600519"),
    ],
)  # fmt: skip
def test_stock_charts_are_removed(img, removed_text):
    ex = extract(page(f"{PROSE}<p>{img}</p>"))
    assert ex.document.images == []
    assert reason_of(ex, removed_text) == "stock_chart"


def test_a_linked_image_to_a_quote_page_without_a_k_alt_is_an_image():
    ex = extract(
        page(
            f"{PROSE}<p><a href='http://quote.eastmoney.com/sh600519.html'><img src='/c.png' alt='茅台'></a></p>"
        )
    )
    assert [(i.src, i.alt) for i in ex.document.images] == [("/c.png", "茅台")]


# ------------------------------------------------------------------------------------------ labelling headings

RELATED_HEADINGS = [
    "推荐阅读", "相关阅读", "相关新闻", "相关文章", "相关报道", "相关稿件", "相关链接", "延伸阅读", "扩展阅读", "热点推荐",
    "精彩推荐", "热门推荐", "猜你喜欢", "为你推荐", "更多精彩", "热门文章", "热点新闻", "热门新闻", "精彩图集", "视频新闻",
    "热点排行", "大家都爱看", "新闻推荐", "图片新闻", "排行榜", "今日推荐", "编辑推荐", "往期回顾", "【推荐阅读】", "相关新闻：",
]  # fmt: skip
COMMENT_HEADINGS = [
    "我要评论", "发表评论", "全部评论", "网友评论", "最新评论", "热门评论", "精彩评论", "用户评论", "读者评论", "评论区",
    "评论列表", "网友跟帖", "跟帖评论", "全部评论 23条", "全部评论（23）", "【我要评论】",
]  # fmt: skip
TEASER = "另一篇文章的摘要写在这里，内容不长。"


def _labelled_block(heading: str) -> bytes:
    return page(f"{PROSE}<div><h3>{heading}</h3><p>{TEASER}</p></div>")


@pytest.mark.parametrize("heading", RELATED_HEADINGS)
def test_related_heading_labels_its_block(heading):
    ex = extract(_labelled_block(heading))
    assert texts(ex) == [P1, P2]
    assert reason_of(ex, TEASER) == "related"


@pytest.mark.parametrize("heading", COMMENT_HEADINGS)
def test_comment_heading_labels_its_block(heading):
    ex = extract(_labelled_block(heading))
    assert texts(ex) == [P1, P2]
    assert reason_of(ex, TEASER) == "comments"


def test_an_ordinary_heading_labels_nothing():
    assert texts(extract(_labelled_block("会议要求"))) == [P1, P2, "会议要求", TEASER]


# ------------------------------------------------------------------------------------------ printed metadata


@pytest.mark.parametrize(
    "line",
    ["来源：新华社", "来 源: 新华社", "文章来源：新华社", "本文来源：新华社", "新闻来源：新华社", "稿件来源：新华社",
     "信息来源：新华社", "消息来源：新华社", "（文章来源：新华社）", "【来源：新华社】"],
)  # fmt: skip
def test_source_line(line):
    ex = extract(page(f"{PROSE}<p>{line}</p>"))
    assert texts(ex) == [P1, P2]
    assert ex.document.source_name == "新华社"
    assert reason_of(ex, line) == "source_line"


def test_a_source_label_inside_a_line_names_the_source_and_the_line_stays():
    ex = extract(page(f"{PROSE}<p>本报讯 来源：新华社</p>"))
    assert ex.document.source_name == "新华社"
    assert texts(ex) == [P1, P2, "本报讯 来源：新华社"]


@pytest.mark.parametrize(
    ("rest", "source"),
    [("证券时报网", "证券时报网"), ("上海证券报", "上海证券报"), ("新华通讯社", "新华通讯社"), ("中央电视台", "中央电视台"),
     ("求是杂志", "求是杂志"), ("人民网文化频道", "人民网文化频道"), ("东方财富网财经", "东方财富网财经"), ("澎湃新闻", "澎湃新闻"),
     ("中国经济网在线", "中国经济网在线"), ("界面传媒", "界面传媒"), ("经济资讯", "经济资讯"), ("财联社证券", "财联社证券"),
     ("经济观察", "经济观察"), ("半月刊", "半月刊"), ("某某财经公众号", "某某财经公众号"), ("阅读次数", None), ("张三", None)],
)  # fmt: skip
def test_organisation_name_beside_a_date(rest, source):
    """hexun prints ``2019-09-26 10:56:28 证券时报网``: the lone name is the source when it ends like one."""
    assert unlabelled_source(f"2019-09-26 10:56:28 {rest}") == source


@pytest.mark.parametrize(
    ("line", "author", "reason"),
    [
        ("作者：张三", "张三", "byline"),
        ("作 者: 张三", "张三", "byline"),
        ("本报记者 王䶮", "王䶮", "byline"),
        ("记者：欧阳娜娜", "欧阳娜娜", "byline"),
        ("责任编辑：郭明煜", "郭明煜", "editor_line"),
        ("（责任编辑：李四）", "李四", "editor_line"),
        ("(责编：汤诗瑶、丁涛)", "汤诗瑶、丁涛", "editor_line"),
        ("编辑：赵六", "赵六", "editor_line"),
        ("责任编辑：杨倩_NF4425", "杨倩", "editor_line"),
    ],
)
def test_byline(line, author, reason):
    ex = extract(page(f"{PROSE}<p>{line}</p>"))
    assert texts(ex) == [P1, P2]
    assert ex.document.author == author
    assert reason_of(ex, line) == reason


def test_a_labelled_author_outranks_the_editor():
    ex = extract(page(f"<p>责任编辑：李四</p>{PROSE}<p>作者：张三</p>"))
    assert ex.document.author == "张三"


@pytest.mark.parametrize("label", ["撰文", "编审", "校对", "审核"])
def test_byline_labels(label):
    """撰文/编审/校对/审核 start a byline line; a 作者/记者/编辑 name in it makes it one."""
    line = f"{label}：王五 编辑：赵六"
    ex = extract(page(f"{PROSE}<p>{line}</p>"))
    assert texts(ex) == [P1, P2]
    assert ex.document.author == "赵六"
    assert reason_of(ex, line) == "editor_line"


def test_a_name_pattern_in_an_ordinary_line_is_not_a_byline():
    line = "会议由王五主持，编辑：赵六"
    assert texts(extract(page(f"{PROSE}<p>{line}</p>"))) == [P1, P2, line]


@pytest.mark.parametrize("label", ["发布时间：", "发布日期：", "发表时间：", "发表于 ", "更新时间：", "时间：", "日期：",
                                   "浏览次数：12 ", "阅读量 34 ", "来源：新华社 "])  # fmt: skip
def test_date_label_makes_a_date_only_line_a_dateline(label):
    line = f"{label}2022-05-26"
    ex = extract(page(f"{PROSE}<p>{line}</p>"))
    assert texts(ex) == [P1, P2]
    assert ex.document.published_at == datetime(2022, 5, 26, tzinfo=CST)
    assert reason_of(ex, line) in ("dateline", "source_line")


def test_a_date_without_time_or_label_is_not_a_dateline():
    ex = extract(page(f"{PROSE}<p>2022-05-26</p>"))
    assert texts(ex) == [P1, P2, "2022-05-26"]
    assert ex.document.published_at is None


def test_time_zone_note_line():
    """finews layout: ``(GMT+8, Asia/Shanghai, CST)`` on its own line above the date."""
    ex = extract(page(f"<p>(GMT+8, Asia/Shanghai, CST)</p>{PROSE}"))
    assert texts(ex) == [P1, P2]
    assert reason_of(ex, "(GMT+8, Asia/Shanghai, CST)") == "dateline"


@pytest.mark.parametrize("label", ["tags: ", "Tag: ", "标签：", "关键词：", "关键字："])
def test_tags_line(label):
    ex = extract(page(f"{PROSE}<p>{label}金融、监管</p>"))
    assert texts(ex) == [P1, P2]
    assert ex.document.tags == ["金融", "监管"]


# ------------------------------------------------------------------------------------------ boilerplate lines


@pytest.mark.parametrize("line", ["返回列表", "【返回】", "[返回首页]", "回到顶部", "Back to top"])
def test_back_link(line):
    ex = extract(page(f"{PROSE}<p>{line}</p>"))
    assert texts(ex) == [P1, P2]
    assert reason_of(ex, line) == "back_link"


@pytest.mark.parametrize(
    "line",
    ["分享到：微信", "分享至微博", "分享：微信", "分享:QQ", "扫一扫在手机打开当前页", "微信扫一扫", "用微信扫描二维码",
     "打印本页", "【打印】", "字号：大 中 小", "收藏本页", "关闭窗口", "【关闭】"],
)  # fmt: skip
def test_share_and_print_widgets(line):
    ex = extract(page(f"{PROSE}<p>{line}</p>"))
    assert texts(ex) == [P1, P2]
    assert reason_of(ex, line) == "share_widget"


@pytest.mark.parametrize("line", ["免责声明：本文观点仅代表作者本人。", "【特别声明】本文仅供参考。", "版权声明：转载请注明出处。",
                                  "声明：本文不构成投资建议。"])  # fmt: skip
def test_disclaimer(line):
    ex = extract(page(f"{PROSE}<p>{line}</p>"))
    assert texts(ex) == [P1, P2]
    assert reason_of(ex, line) == "disclaimer"


@pytest.mark.parametrize("line", ["© 2022 某某网", "某某网 版权所有", "Copyright 2019 某某", "京ICP备05070218号",
                                  "京ICP证000007", "京公网安备 11000002000001号"])  # fmt: skip
def test_copyright_lines(line):
    ex = extract(page(f"{PROSE}<p>{line}</p>"))
    assert texts(ex) == [P1, P2]
    assert reason_of(ex, line) == "footer"


# ------------------------------------------------------------------------------------------ original link


@pytest.mark.parametrize(
    "text", ["http://orig.example.com/a.html", "//orig.example.com/a.html", "www.example.com/a"]
)
def test_a_bare_url_link_is_the_original_article(text):
    ex = extract(page(f"{PROSE}<p><a href='http://orig.example.com/a.html'>{text}</a></p>"))
    assert texts(ex) == [P1, P2]
    assert ex.document.original_url == "http://orig.example.com/a.html"
    assert reason_of(ex, text) == "original_link"


@pytest.mark.parametrize("label", ["原文链接", "原文地址", "阅读原文", "查看原文", "原文网址"])
def test_original_article_label(label):
    ex = extract(page(f"{PROSE}<p>{label}：<a href='http://orig.example.com/a.html'>点击这里</a></p>"))
    assert texts(ex) == [P1, P2]
    assert ex.document.original_url == "http://orig.example.com/a.html"


# ------------------------------------------------------------------------------------------ captions


@pytest.mark.parametrize(
    "caption",
    ["图片来源：霍尼韦尔官网", "图为会议现场", "图：会议现场", "（图/新华社）", "图/pixabay", "▲会议现场", "△会议现场", "↑会议现场",
     "上图为会议现场", "下图为会议现场", "资料图", "摄影 张三", "摄：张三"],
)  # fmt: skip
def test_caption_start(caption):
    ex = extract(page(f"{PROSE}<p><img src='/photo/a.jpg'></p><p>{caption}</p>"))
    assert [(i.src, i.caption) for i in ex.document.images] == [("/photo/a.jpg", caption)]
    assert texts(ex) == [P1, P2]


@pytest.mark.parametrize("cls", ["caption", "img_descr", "img_desc", "pic_desc", "imgtitle", "pictext"])
def test_caption_class(cls):
    ex = extract(page(f"{PROSE}<p><img src='/photo/a.jpg'></p><p class='{cls}'>会议现场</p>"))
    assert [(i.src, i.caption) for i in ex.document.images] == [("/photo/a.jpg", "会议现场")]


def test_a_plain_line_after_an_image_is_not_its_caption():
    ex = extract(page(f"{PROSE}<p><img src='/photo/a.jpg'></p><p class='text'>会议现场</p>"))
    assert [(i.src, i.caption) for i in ex.document.images] == [("/photo/a.jpg", None)]
    assert texts(ex) == [P1, P2, "会议现场"]


@pytest.mark.parametrize(("line", "caption"), [("附表 收支情况", "附表 收支情况"), ("表1 主要指标", "表1 主要指标"),
                                               ("主要指标如下：", "主要指标如下："), ("主要指标如下:", "主要指标如下:"),
                                               ("主要指标", None)])  # fmt: skip
def test_table_caption_from_the_line_above(line, caption):
    table = "<table><tr><td>项目</td><td>金额</td></tr><tr><td>收入</td><td>10</td></tr></table>"
    ex = extract(page(f"{PROSE}<p>{line}</p>{table}"))
    assert ex.document.tables[0].caption == caption
    assert [b.kind for b in ex.blocks][-2:] == [BlockKind.PARAGRAPH, BlockKind.TABLE]


# ------------------------------------------------------------------------------------------ titles


@pytest.mark.parametrize(
    ("title", "article_title"),
    [
        ("债券市场是否存在泡沫_新浪财经_新浪网", "债券市场是否存在泡沫"),
        ("关于批准发行特别国债的决议__2007年第23号国务院公报_中国政府网", "关于批准发行特别国债的决议"),
        ("文章标题--某某网", "文章标题"),
        ("文章标题——某某网", "文章标题"),
        ("文章标题 - 某某网", "文章标题"),
        ("文章标题 – 某某网", "文章标题"),
        ("文章标题 | 某某网", "文章标题"),
        ("文章标题｜某某网", "文章标题"),
        ("文章标题 · 某某网", "文章标题"),
        ("文章标题-某某网", "文章标题"),
        # a tail longer than 12 characters goes only when it names a site
        ("文章标题_某某省某某市人民政府办公厅门户网站", "文章标题"),
        ("文章标题_某某省某某市某某区融媒体中心客户端", "文章标题"),
        ("Article title - Sina Finance Channel Page", "Article title"),
        ("Article title - Tencent QQ Finance Channel", "Article title"),
        ("文章标题_关于进一步加强管理工作的若干意见解读", "文章标题_关于进一步加强管理工作的若干意见解读"),
    ],
)
def test_site_suffix_of_the_title(title, article_title):
    assert strip_site_suffix(title) == article_title
    assert extract(page(head=f"<title>{title}</title>")).document.title == article_title


@pytest.mark.parametrize("word", ["网", "频道", "站", "报", "新闻", "财经", "政府", "在线", "中心", ".com", ".cn", "sina",
                                  "SOHU", "163", "qq"])  # fmt: skip
def test_site_words(word):
    """A tail of 13-30 characters goes when it holds a site word, and stays without one."""
    assert strip_site_suffix(f"文章标题_某某某某某某{word}某某某某某某") == "文章标题"
    assert strip_site_suffix("文章标题_某某某某某某某某某某某某某") == "文章标题_某某某某某某某某某某某某某"


# ------------------------------------------------------------------------------------------ source element, breadcrumb

FILLER = "".join(f"<div class='list'><a href='/n/{i}'>其他新闻标题{i}</a></div>" for i in range(8))


@pytest.mark.parametrize(("element", "source"), [
    ("<span class='source'>新浪财经-自媒体综合</span>", "新浪财经-自媒体综合"),
    ("<span id='source_baidu'>来源：新浪财经</span>", "新浪财经"),
    ("<span class='source-pop'>新浪财经</span>", None),
    ("<span class='source_tip'>新浪财经</span>", None),
    ("<span class='share-source'>新浪财经</span>", None),
])  # fmt: skip
def test_source_element(element, source):
    """A source element far below the article (outside the lines read as printed metadata)."""
    assert extract(page(after=f"{FILLER}<div>{element}</div>")).document.source_name == source


@pytest.mark.parametrize("cls", ["BreadcrumbNav", "position", "location", "cur-location"])
def test_breadcrumb_gives_the_categories_without_the_home_link(cls):
    crumb = f"<div class='{cls}'><a href='/'>首页</a> &gt; <a href='/cj/'>财经</a> &gt; <a href='/cj/gs/'>公司</a></div>"
    assert extract(page(after=crumb)).document.categories == ["财经", "公司"]


@pytest.mark.parametrize("home", ["首页", "网站主页", "Home"])
def test_home_link_is_not_a_category(home):
    crumb = f"<div class='position'><a href='/'>{home}</a> &gt; <a href='/cj/'>财经</a></div>"
    assert extract(page(after=crumb)).document.categories == ["财经"]


# ------------------------------------------------------------------------------------------ <meta> and JSON-LD

META_DATE_KEYS = [
    "article:published_time", "og:article:published_time", "og:published_time", "published_time", "article:published",
    "datePublished", "pubdate", "publishdate", "publish_date", "publish-date", "publication_date", "dc.date.issued",
    "DC.date", "dcterms.created", "dcterms.date", "sailthru.date", "parsely-pub-date", "firstpublishedtime",
    "weibo: article:create_at", "ptime", "date",
]  # fmt: skip
STAMP = "2022-05-26T14:18:58+08:00"
PUBLISHED = datetime(2022, 5, 26, 14, 18, 58, tzinfo=CST)


@pytest.mark.parametrize("key", META_DATE_KEYS)
def test_meta_date_keys(key):
    ex = extract(page(head=f"<title>测试标题</title><meta name='{key}' content='{STAMP}'>"))
    assert ex.document.published_at == PUBLISHED


def test_meta_date_keys_in_order():
    """article:published_time wins over a later key (and over the generic ``date``)."""
    head = (
        "<meta name='date' content='2020-01-01T00:00:00+08:00'>"
        f"<meta property='article:published_time' content='{STAMP}'>"
    )
    assert extract(page(head=head)).document.published_at == PUBLISHED


def test_an_unknown_meta_key_gives_no_date():
    ex = extract(page(head=f"<meta name='lastmod' content='{STAMP}'>"))
    assert ex.document.published_at is None
    assert "no publish date found" in ex.document.warnings


@pytest.mark.parametrize("key", ["datePublished", "dateCreated"])
def test_jsonld_date_keys(key):
    head = f'<script type="application/ld+json">{{"@type": "NewsArticle", "{key}": "{STAMP}"}}</script>'
    assert extract(page(head=head)).document.published_at == PUBLISHED


# a <title> whose tail is not a site name (kept whole by strip_site_suffix): only a head key gives the short title
LONG_TITLE = "<title>元数据标题_关于进一步加强管理工作的若干意见解读</title>"


def test_a_long_title_tail_is_kept_without_a_title_key():
    assert extract(page(head=LONG_TITLE)).document.title == "元数据标题_关于进一步加强管理工作的若干意见解读"


@pytest.mark.parametrize("key", ["og:title", "twitter:title"])
def test_meta_title_keys(key):
    assert (
        extract(page(head=f"{LONG_TITLE}<meta property='{key}' content='元数据标题'>")).document.title == "元数据标题"
    )


def test_jsonld_headline_key():
    ld = '<script type="application/ld+json">{"headline": "元数据标题"}</script>'
    assert extract(page(head=f"{LONG_TITLE}{ld}")).document.title == "元数据标题"


@pytest.mark.parametrize("key", ["og:site_name", "application-name"])
def test_site_name_keys_keep_the_site_out_of_the_title(key):
    """An <h1> that is the site's name (a logo heading) is not the title."""
    head = f"<title>某某日报</title><meta name='{key}' content='某某日报'>"
    ex = extract(page(f"<h1>某某日报</h1>{PROSE}", head=head))
    assert ex.document.title is None
    assert "no title found (no <title>, og:title or <h1> with text)" in ex.document.warnings


@pytest.mark.parametrize("key", ["source", "article:source", "og:article:source"])
def test_meta_source_keys(key):
    assert extract(page(head=f"<meta name='{key}' content='新华社'>")).document.source_name == "新华社"


@pytest.mark.parametrize("key", ["author", "article:author", "byl"])
def test_meta_author_keys(key):
    assert extract(page(head=f"<meta name='{key}' content='张三'>")).document.author == "张三"


def test_meta_author_that_is_the_site_is_not_an_author():
    head = "<meta name='author' content='某某网'><meta name='copyright' content='某某网 版权所有'>"
    assert extract(page(head=head)).document.author is None


@pytest.mark.parametrize("key", ["article:section", "og:article:section"])
def test_meta_section_keys(key):
    assert extract(page(head=f"<meta property='{key}' content='财经'>")).document.categories == ["财经"]


@pytest.mark.parametrize(("key", "content"), [("article:tag", "金融"), ("og:article:tag", "金融"), ("keywords", "金融,监管"),
                                              ("news_keywords", "金融；监管")])  # fmt: skip
def test_meta_tag_keys(key, content):
    assert extract(page(head=f"<meta name='{key}' content='{content}'>")).document.tags == content.replace(
        "；", ","
    ).split(",")


def test_og_url_is_the_canonical_url():
    head = "<meta property='og:url' content='/2022/a.html'>"
    ex = extract(page(head=head), url="https://news.example.com/x/y.html")
    assert ex.document.canonical_url == "https://news.example.com/2022/a.html"
