"""Site vocabulary of the HTML extractor: the words, class names and patterns of Chinese news and government
pages that the algorithm modules (``walk``, ``container``, ``lines``, ``meta``, ``tree``) read.

Everything here is data about *pages*, not about the algorithm: a new site usually means a line here, not a
change elsewhere. Each group says which kind of page it comes from, and where a corpus page
(``tests/data/corpus/html/``, the finews posts in ``tests/data/corpus/finews/``) shows the entry, it is named
(pages: ``gov_npc`` = gov_npc_2007_special_treasury_bond_decision, ``law`` =
law_supervision_law_2018_html_chapters_articles, ``163``, ``hexun``, ``people``, ``sina`` = the four
``news_*`` pages; ``finews`` = the posts and the site's Jekyll layout). ``tests/test_html_vocab.py`` pins
every group with a small page.
"""

from __future__ import annotations

import re

import regex

# ================================================================================ page furniture by class/id

# A block element whose lower-cased ``class`` + ``id`` contains one of these substrings is furniture of the
# given kind. Checked in this order; the first match names the kind.
HINT_SUBSTRINGS: tuple[tuple[str, str], ...] = (
    ("breadcrumb", "navigation"),  # gov_npc: BreadcrumbNav
    ("crumb", "navigation"),  # 163: post_crumb
    ("pagination", "navigation"),  # gov_npc: #pagination
    ("navbar", "navigation"),  # Bootstrap-style sites
    ("toolbar", "navigation"),  # gov_npc: header_toolbar; hexun: toolbar float-fixed
    ("copyright", "footer"),  # people, sina, gov_npc: footer_copyright
    ("footer", "footer"),  # gov_npc, hexun, sina: footer-wrap
    ("share", "share_widget"),  # every news page: ops_share (people), bdshare (hexun), post_btmshare (163)
    ("social", "share_widget"),  # hexun: #socialTool
    ("qrcode", "share_widget"),  # 163: js_qrcode_arr (the "scan to read on WeChat" box)
    ("comment", "comments"),  # 163: post_comment; hexun: commentsBox; sina: sina-comment-wrap
    ("related", "related"),  # gov_npc: xg-list related; sina: blk-related; hexun: trc_related_container
    ("recommend", "related"),  # 163: post_recommend; sina: hot-recommend-cont
    ("sidebar", "sidebar"),  # sina: fc_sidebar
    ("advert", "advertisement"),
    ("sponsor", "advertisement"),  # hexun: link-disclosure attribution (taboola's sponsored links)
    ("slider", "related"),  # sina: hero-slider (a carousel of other stories)
    ("carousel", "related"),
    ("swiper", "related"),  # swiper.js carousels, common on Chinese portals
)

# The same, but only as a whole word of the class/id (``nav`` must not match ``canvas``; ``ad`` not ``head``).
HINT_WORDS: dict[str, str] = {
    "nav": "navigation",  # people: top_nav, rwb_nav; sina: nav-list; 163: ntes-nav-select
    "menu": "navigation",  # hexun: menu; sina: tabs-menu
    "pager": "navigation",  # sina: cardlist-a__pager
    "foot": "footer",  # 163: ntes_foot_link
    "ad": "advertisement",  # sina: ad top-ad; 163: ad_close_fixed
    "ads": "advertisement",
    "banner": "advertisement",  # people: w1000_320 banner; sina: top-banner
    "promo": "advertisement",
    "hot": "related",  # people: box_hot (热点推荐); sina, 163: hot lists
    "rank": "related",  # 排行榜 boxes
    "side": "sidebar",  # sina: right-side-ad; 163: ep-side-parting
    "tags": "tags",
}

# HTML5 elements that are furniture by their tag alone (any page).
TAG_HINTS: dict[str, str] = {
    "nav": "navigation",
    "footer": "footer",
    "aside": "sidebar",
    "menu": "navigation",
}

# Class names that CSS frameworks use to hide an element (gov_npc: hide; 163: hidden; Bootstrap: sr-only).
HIDDEN_CLASS_RE = re.compile(r"(?<![\w-])(?:hidden|hide|sr-only|visually-hidden)(?![\w-])", re.I)

# ================================================================================ images that are not the article's

# Decoration by file name: page arrows, icons, logos, spacers (gov_npc: icon_1234.png; hexun: *_logo.gif;
# people: next_page.jpg, logo01.png; sina: icon-cmnt.png).
DECOR_IMG_RE = re.compile(
    r"(?:^|[/_.-])(?:next|prev|previous|arrow|icon|btn|button|logo|spacer|blank|pixel|loading)[^/]*\.(?:gif|png|jpe?g|svg)$",
    re.I,
)
# Stock-quote charts that finance sites put beside a company name (finews posts from eastmoney: the
# webquote.eastmoney / GetPic.aspx chart images; K线 / 分时图 in their alt text).
STOCK_CHART_RE = re.compile(r"kline|GetPic\.aspx|quote\.eastmoney|minchart|webquote|[Kk]图|分时图|K线", re.I)
# eastmoney wraps such a chart in ``<a class="EmImageRemark" href="http://quote.eastmoney.com/...">``
# (finews post -202205262391921712.md).
STOCK_CHART_LINK_CLASS = "ImageRemark"
# A linked image to a quote page whose alt text starts with this is a chart (alt="K图 …").
STOCK_CHART_ALT_PREFIX = "K"

# ================================================================================ headings that label a block

# A short heading that makes the rest of its parent a related-links block (people: 推荐阅读, 相关新闻,
# 热点排行, 精彩图集; sina: 热门推荐).
RELATED_HEADING_RE = re.compile(
    r"^[【\[]?\s*(?:推荐阅读|相关阅读|相关新闻|相关文章|相关报道|相关稿件|相关链接|延伸阅读|扩展阅读|热点推荐|精彩推荐|热门推荐|"
    r"猜你喜欢|为你推荐|更多精彩|热门文章|热点新闻|热门新闻|精彩图集|视频新闻|热点排行|"
    r"大家都爱看|新闻推荐|图片新闻|排行榜|今日推荐|编辑推荐|往期回顾)\s*[】\]]?[:：]?$"
)
# ... and one that makes it a comment thread (我要评论, 全部评论 23条: portal comment boxes whose class does not
# say "comment").
COMMENTS_HEADING_RE = re.compile(
    r"^[【\[]?\s*(?:我要评论|发表评论|全部评论|网友评论|最新评论|热门评论|精彩评论|用户评论|读者评论|评论区|"
    r"评论列表|网友跟帖|跟帖评论)\s*(?:[（(]?\s*\d+\s*条?\s*[）)]?)?\s*[】\]]?[:：]?$"
)

# ================================================================================ printed metadata lines

# Words that may stand before 来源 (文章来源, 本文来源 …) in a source label.
_SOURCE_LABEL_WORDS = r"(?:文章|本文|新闻|稿件|信息|消息)?"
# ``来源：上海证券报`` anywhere in a line: the source's name (163: 本文来源：证券市场红周刊; people:
# 来源：人民网-文化频道; finews: （文章来源：21世纪经济报道）).
SOURCE_RE = re.compile(rf"{_SOURCE_LABEL_WORDS}来\s*源\s*[:：]\s*(?P<v>[^\s|｜()（）\[\]【】<>]{{1,40}})")
# A line that starts with a source label is a source line (law: 来源: ; finews: （文章来源：…）).
SOURCE_LINE_RE = re.compile(rf"^[（(【\[]?\s*{_SOURCE_LABEL_WORDS}来\s*源\s*[:：]")
# A line holding this word anywhere is read for a source name (``… 来源：新华社``).
SOURCE_WORD = "来源"
# The label in front of the text of a ``<span class="source">`` element.
SOURCE_LABEL_PREFIX_RE = re.compile(r"^(?:文章|本文)?来\s*源\s*[:：]\s*")
# A news organisation's name printed beside the date with no label: …网 / …报 / …社 / …频道 (hexun:
# ``2019-09-26 10:56:28 证券时报网``, commit 2e9b05f); also WeChat-style ``…号`` accounts.
ORG_NAME_RE = regex.compile(
    r"\p{Han}{2,14}(?:网|报|社|台|刊|频道|新闻|财经|杂志|在线|传媒|资讯|证券|观察)(?:\p{Han}{0,4}号)?"
)
# Author patterns, in priority order: a labelled 作者, a 记者 byline, an editor (责任编辑 …; 163: 责任编辑：杨倩,
# sina: 责任编辑：郭明煜, people: 责编：汤诗瑶、丁涛). The first that matches a line gives its priority.
AUTHOR_PATTERNS = (
    re.compile(r"作\s*者\s*[:：]\s*(?P<v>[^\s|｜()（）\[\]【】]{1,30})"),
    regex.compile(
        r"(?:^|[\s（(【\[])(?:本报)?记\s*者\s*[:：]?\s*(?P<v>[\p{Han}·]{2,4}(?:[、，,\s]+[\p{Han}·]{2,4})*)(?=$|[\s）)】\]])"
    ),
    re.compile(
        r"(?:责任编辑|责编|编辑)\s*[:：]\s*(?P<v>[^\s|｜()（）\[\]【】]{1,30}(?:、[^\s|｜()（）]{1,10})*)"
    ),
)
EDITOR_PRIORITY = 2  # the index of the editor pattern: such a line is an ``editor_line``, not a ``byline``
# A line that starts with one of these labels is a byline / editor line (hexun: （责任编辑：…）; people: (责编：…)).
BYLINE_LINE_RE = re.compile(
    r"^[（(【\[]?\s*(?:作\s*者|本报记者|记\s*者|撰\s*文|责任编辑|责编|编辑|编审|校对|审核)\s*[:：｜|\s]"
)
# An editor's staff code glued to the name (163: 责任编辑：杨倩_NF4425 → 杨倩).
EDITOR_CODE_RE = re.compile(r"_[A-Za-z]{1,4}\d{2,}$")
# A line with a date but no time is a dateline only with one of these labels (law: 来源: … 2018-03-21).
DATE_LABEL_RE = re.compile(
    r"发布时间|发布日期|发表时间|发表于|更新时间|时间\s*[:：]|日期\s*[:：]|GMT|UTC|浏览次数|阅读量|来\s*源\s*[:：]"
)
# A line that is only a time-zone note (finews layout: ``(GMT+8, Asia/Shanghai, CST)`` above the date).
TZ_ONLY_RE = re.compile(r"^[(（]?\s*(?:GMT|UTC)\s*[+-]\s*\d{1,2}(?::?\d{2})?[^)）]{0,40}[)）]?$")
# A tags line (finews layout: ``tags: 东财滚动新闻``; 标签 / 关键词 on Chinese portals).
TAGS_LINE_RE = re.compile(r"^(?:tags?|标签|关键词|关键字)\s*[:：]\s*(?P<v>.+)$", re.I)

# ================================================================================ boilerplate lines

# 返回首页 / 返回列表 / 【返回】 (finews posts: ``[返回…](…)`` footer links).
BACK_LINK_RE = re.compile(r"^[\[【]?\s*(?:返回|回到|back to)", re.I)
# Share and print widgets as text (163, people, sina: 分享到; gov_npc: 字号：, 扫一扫; sina: 扫一扫).
SHARE_RE = re.compile(
    r"^(?:分享到|分享至|分享：|分享:|扫一扫|微信扫一扫|用微信扫|打印本页|【打印】|字号[:：]|收藏本页|关闭窗口|【关闭】)"
)
# Disclaimers under the article (sina: 免责声明：…).
DISCLAIMER_RE = re.compile(r"^[【\[（(]?\s*(?:免责声明|特别声明|版权声明|声明)\s*[】\]）)]?\s*[:：]?")
# Copyright and licence lines of page footers (gov_npc: 版权所有, ICP备; hexun, people, sina: Copyright;
# finews layout: ©).
COPYRIGHT_RE = re.compile(r"©|&copy;|版权所有|copyright|ICP备|ICP证|公网安备", re.I)

# ================================================================================ original-article link

# A link whose text is a bare URL (finews layout: the original article's address printed as its own link).
URL_TEXT_RE = re.compile(r"^(?:https?:)?//\S+$|^www\.\S+$")
# Labels of a link to the original article (re-published news).
ORIGINAL_LINK_RE = re.compile(r"原文链接|原文地址|阅读原文|查看原文|原文网址")

# ================================================================================ image captions

# A short line starting so is an image's caption (finews post -202205262391921712.md: 图片来源：霍尼韦尔官网;
# ▲ / 上图 / 资料图 / 摄影 on Chinese portals).
CAPTION_START_RE = re.compile(r"^(?:图片?[来源为：:／/]|（?图[：:／/]|▲|△|↑|上图|下图|资料图|摄影|摄[:：])")
# Class/id substrings of caption elements (img_desc, pic_desc: sina- and 163-style templates; imgtitle,
# pictext: older CMS templates).
CAPTION_CLASS_WORDS = ("caption", "descr", "img_desc", "pic_desc", "imgtitle", "pictext")

# ================================================================================ table captions

# A short block just above a table is its caption when it names a table (表1, 附表：收支情况) or ends with a
# colon (``主要指标如下：``).
TABLE_CAPTION_WORD = "表"
TABLE_CAPTION_ENDINGS = (":", "：")

# ================================================================================ titles

# Separators between an article title and the site's name in <title> (sina: ``…这么说_新浪财经_新浪网``;
# ``标题-某某网``, ``标题 | 频道``).
TITLE_SEP_RE = re.compile(r"\s*(?:__?|--|——|\s[-–—|｜·]\s|[|｜]|-)\s*")
# A <title> segment with one of these words is a site or channel name (gov_npc:
# ``…__2007年第23号国务院公报_中国政府网``; the big portals by their domain names: sina, sohu, 163, qq).
SITE_WORD_RE = re.compile(r"网|频道|站|报|新闻|财经|政府|在线|中心|\.com|\.cn|sina|sohu|163|qq", re.I)

# ================================================================================ source element, breadcrumb

# ``<span class="source">新浪财经-自媒体综合</span>``: class/id substring of a source element (sina).
SOURCE_CLASS_WORD = "source"
# ... but not a pop-up, tooltip, button or share layer whose name also says source.
NOT_SOURCE_CLASS_RE = re.compile(r"pop|dialog|modal|mask|tip|btn|layer|share")
# Class/id substrings of a breadcrumb trail (gov_npc: BreadcrumbNav; 163: post_crumb; 当前位置 boxes: position,
# location).
CRUMB_CLASS_WORDS = ("crumb", "position", "location")
# The home link of a breadcrumb is not a category.
HOME_LINK_RE = re.compile(r"首页|主页|home", re.I)

# ================================================================================ <meta> and JSON-LD keys

# Publish-date keys, best first (163, sina, finews: article:published_time; people: publishdate; gov_npc:
# firstpublishedtime; the rest: Open Graph, Dublin Core, Parse.ly, Sailthru, Weibo cards).
META_DATE_KEYS = (
    "article:published_time",
    "og:article:published_time",
    "og:published_time",
    "published_time",
    "article:published",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish_date",
    "publish-date",
    "publication_date",
    "dc.date.issued",
    "dc.date",
    "dcterms.created",
    "dcterms.date",
    "sailthru.date",
    "parsely-pub-date",
    "firstpublishedtime",
    "weibo: article:create_at",
    "ptime",
    "date",
)
JSONLD_DATE_KEYS = ("datePublished", "dateCreated")  # schema.org NewsArticle
JSONLD_HEADLINE_KEY = "headline"
META_TITLE_KEYS = ("og:title", "twitter:title")
META_SITE_NAME_KEY = "og:site_name"
META_APPLICATION_NAME_KEY = "application-name"
META_URL_KEY = "og:url"
META_SOURCE_KEYS = ("source", "article:source", "og:article:source")
META_AUTHOR_KEYS = ("author", "article:author", "byl")  # byl: the New York Times-style byline meta
META_COPYRIGHT_KEY = "copyright"
META_SECTION_KEYS = ("article:section", "og:article:section")
META_TAG_KEYS = ("article:tag", "og:article:tag")
META_KEYWORDS_KEYS = ("keywords", "news_keywords")
