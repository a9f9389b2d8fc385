"""HTML input stage: one web page (bytes) in, one ``HtmlExtraction`` out.

The chain, each step a plain function (what goes in → what comes out):

1. ``_check_bytes``      bytes → raises ``HtmlInputError`` for empty input and known binary formats (PDF,
                                  images, archives, gzip …)
2. ``decode_html``       bytes → text, codec, note                     (``encoding.py``; the only decoder)
3. ``_check_text``       text  → raises for binary garbage, JSON and text without HTML markup
4. ``_parse``            text  → lxml tree (C0 controls and stray ``</html>``/``</body>`` removed first:
                                  libxml2 stops reading at a mid-page ``</html>``)
5. ``_read_head``        tree  → ``_Head``: <title>, <meta>, <link rel=canonical>, JSON-LD, read from the whole
                                  document (broken markup can push head elements into <body>)
6. ``_preclean``         tree  → tree without scripts, styles, comments, forms, embeds, hidden elements
                                  (``display:none``, ``hidden``, class hidden/hide) and head content spilled
                                  into <body> by an unescaped attribute; every dropped text goes to ``removed``
7. ``_Walker``           body  → ``_Seg`` list: one segment per block of text in document order (a <p>, an
                                  <li>, the loose text of a <div> …; a <br> directly in a block splits it, a
                                  <br> inside <strong>/<a> joins lines), with link/bold character counts,
                                  images, data tables and the furniture hint of the nearest class/id (nav,
                                  footer, share, comment, related, slider …) or 推荐阅读/我要评论-style heading
8. ``_hints_and_container`` segs → the element holding the article. Every segment gets a value: prose (CJK
                                  text with sentence punctuation and few links) is positive, link lists and
                                  hinted furniture negative, short labels slightly negative. Values are summed
                                  bottom-up over the tree; the element with the largest sum wins (the deepest
                                  on ties). Hints are believed unless that leaves no real prose (then a hint
                                  holding most of the page's prose is taken to be the article's own class).
9. ``_classify``         segs  → blocks / removed / images / tables for the segments inside the container;
                                  each line is checked for metadata (date line, 来源 line, byline, tags line,
                                  original-article link) and boilerplate (back links, share widgets,
                                  disclaimers, copyright, link-dense lines) first. Lines just around the
                                  container (from 3 lines above its <h1> to 6 lines after it) are read for
                                  metadata too.
10. metadata             title (the longest of og:title / twitter:title / JSON-LD headline / <h1> that
                                  prefixes <title>, else <title> minus its site suffix; a copy at the top of
                                  the body is dropped), published_at (meta with time > printed with time >
                                  <time> > date-only; +08:00 assumed with a warning), source, author,
                                  categories (article:section or breadcrumb), tags (article:tag, keywords,
                                  tags line), canonical and original URLs.

Table rules: a ``<table>`` becomes a ``Table`` only if it looks like data: no nested table, at least 2 rows
and 2 columns, ≥ 3 non-empty cells, at most 20 % of cells longer than 100 characters and none longer than
400, less than half of its text in links. Anything else (a layout table, one cell holding the article, a link
grid) is walked like nested ``<div>``s. ``colspan``/``rowspan`` are filled by repeating the spanning cell's
value in every grid position it covers (spans are capped at 50). The header is the first row (whether it
uses ``<th>`` or not). The caption is the ``<caption>`` text, else the preceding block when it is short
(≤ 50 characters) and names a table (contains 表) or ends with a colon (that block stays in the body too).
A TABLE block's ``text`` is the caption (or empty); the cells are in ``tables[table_index]``.

``<strong>``/``<b>``-only paragraphs of at most 80 characters become HEADING blocks with ``heading_level=7``;
a longer bold paragraph stays a PARAGRAPH (emphasis, not a heading). Images are kept as ``Image`` references
(absolute ``src`` when a base URL is known: the ``url`` argument, <base href>, the canonical link or og:url);
a short centred paragraph right after an image (or a short text next to it) is its caption, not body text.
Icons (≤ 40 px), arrows/logos and stock-quote charts are not images of the article.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urljoin

import lxml.etree
import regex

from pipeline.extract.encoding import decode_html
from pipeline.model import Block, BlockKind, Image, Removed, Table

__all__ = [
    "HtmlExtraction",
    "HtmlInputError",
    "extract_html",
    "extract_fragment",
    "parse_datetime",
    "clean_text",
]

CST = timezone(timedelta(hours=8), "CST")
TZ_ASSUMED_WARNING = "no timezone given for the publish time; assumed +08:00 (China Standard Time)"


class HtmlInputError(ValueError):
    """The input cannot be read as an HTML article; the message names the reason, ``reason`` is a short code:
    ``empty`` / ``not_html`` (another format: PDF, image, archive, JSON, plain text) / ``binary`` (garbage
    bytes) / ``unparseable`` / ``no_article`` (only navigation or boilerplate) / ``too_complex`` (nesting or
    size beyond what can be processed)."""

    def __init__(self, message: str, reason: str = "bad_html"):
        super().__init__(message)
        self.reason = reason


@dataclass
class HtmlExtraction:
    title: str | None = None
    published_at: datetime | None = None  # tz-aware
    source_name: str | None = None
    author: str | None = None
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    url: str | None = None
    canonical_url: str | None = None
    original_url: str | None = None
    blocks: list[Block] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    removed: list[Removed] = field(default_factory=list)
    encoding: str = "utf-8"
    encoding_note: str | None = None
    warnings: list[str] = field(default_factory=list)


# ================================================================================================ constants

_BLOCK_TAG_NAMES = (
    "address article aside blockquote body center dd details dialog dir div dl dt fieldset figcaption figure "
    "footer form frameset h1 h2 h3 h4 h5 h6 header hgroup hr html legend li main menu nav ol p pre section "
    "summary table tbody td tfoot th thead tr ul caption"
)
BLOCK_TAGS = frozenset(_BLOCK_TAG_NAMES.split())
HEADING_LEVEL = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# dropped with their content in _preclean: reason per tag
DROP_TAGS = {
    "script": "script",
    "style": "style",
    "noscript": "script",
    "template": "script",
    "iframe": "embed",
    "frame": "embed",
    "object": "embed",
    "embed": "embed",
    "applet": "embed",
    "svg": "embed",
    "math": "embed",
    "canvas": "embed",
    "audio": "embed",
    "video": "embed",
    "map": "embed",
    "select": "form",
    "textarea": "form",
    "button": "form",
    "input": "form",
}
HEAD_ONLY_TAGS = frozenset({"meta", "link", "title", "base"})
BOLD_TAGS = frozenset({"strong", "b"})
SOFT_BREAK_TAGS = frozenset({"strong", "b", "em", "i", "u", "a", "h1", "h2", "h3", "h4", "h5", "h6"})

MAX_WALK_DEPTH = 180  # deeper subtrees are flattened into one segment (libxml2 caps depth anyway)
MAX_SPAN = 50
SHORT = 80  # metadata lines (source, byline, dateline) are at most this long

_WS_RUN_RE = re.compile(r"[ \t\r\n\f\v\u00a0\u200b\u2028\u2029\ufeff]+")
# wide (CJK) text: every Han block (\p{Han}: a name such as 王䶮 or 𠮷 too), CJK punctuation, full-width forms
_WIDE = r"\p{Han}\u2e80-\u2fff\u3000-\u303f\uff00-\uffef"
_WIDE_BREAK_RE = regex.compile(rf"(?<=[{_WIDE}])[ \t\r\f\v]*\n[ \t\r\n\f\v]*(?=[{_WIDE}])")
_INVISIBLE_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_SENTENCE_PUNCT_RE = re.compile(r"[，。；！？]")
_PUNCT_RE = re.compile(r"[，。！？；：、“”《》（）,.;!?]")
_WORDCHAR_RE = regex.compile(r"[0-9A-Za-z\p{Han}]")
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")
_JUNK_CHAR_RE = re.compile("[\x01-\x08\x0b\x0e-\x1f\x7f\ufffd\ue000-\uf8ff]")
_TAG_RE = re.compile(
    r"<\s*(?:html|head|body|p|div|br|span|a|table|meta|title|h[1-6]|ul|li|section|article|img|!doctype)\b",
    re.I,
)

_END_DOC_RE = re.compile(r"</\s*(?:html|body)\s*>", re.I)

_MAGIC = (
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (or Office document)"),
    (b"\x1f\x8b", "gzip-compressed data (decompress it first)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2 file (old Office document)"),
    (b"BZh", None),  # checked with a stricter test below
    (b"\x7fELF", "an ELF executable"),
    (b"RIFF", "a RIFF media file"),
    (b"\x00\x00\x01\x00", "an icon file"),
    (b"OggS", "an Ogg media file"),
    (b"ID3", "an MP3 file"),
)

# class/id vocabulary of page furniture (matched on the lower-cased class + id string)
_HINT_SUBSTR = (
    ("breadcrumb", "navigation"),
    ("crumb", "navigation"),
    ("pagination", "navigation"),
    ("navbar", "navigation"),
    ("toolbar", "navigation"),
    ("copyright", "footer"),
    ("footer", "footer"),
    ("share", "share_widget"),
    ("social", "share_widget"),
    ("qrcode", "share_widget"),
    ("comment", "comments"),
    ("related", "related"),
    ("recommend", "related"),
    ("sidebar", "sidebar"),
    ("advert", "advertisement"),
    ("sponsor", "advertisement"),
    ("slider", "related"),
    ("carousel", "related"),
    ("swiper", "related"),
)
_HINT_WORDS = {
    "nav": "navigation",
    "menu": "navigation",
    "pager": "navigation",
    "foot": "footer",
    "ad": "advertisement",
    "ads": "advertisement",
    "banner": "advertisement",
    "promo": "advertisement",
    "hot": "related",
    "rank": "related",
    "side": "sidebar",
    "tags": "tags",
}
_TAG_HINT = {"nav": "navigation", "footer": "footer", "aside": "sidebar", "menu": "navigation"}
_HINTABLE_RE = re.compile(
    "|".join(k for k, _ in _HINT_SUBSTR) + "|" + "|".join(rf"(?<![a-z]){w}(?![a-z])" for w in _HINT_WORDS)
)
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_HIDDEN_CLASS_RE = re.compile(r"(?<![\w-])(?:hidden|hide|sr-only|visually-hidden)(?![\w-])", re.I)
_DECOR_IMG_RE = re.compile(
    r"(?:^|[/_.-])(?:next|prev|previous|arrow|icon|btn|button|logo|spacer|blank|pixel|loading)[^/]*\.(?:gif|png|jpe?g|svg)$",
    re.I,
)
_STOCK_CHART_RE = re.compile(r"kline|GetPic\.aspx|quote\.eastmoney|minchart|webquote|[Kk]图|分时图|K线", re.I)

# printed metadata
_SOURCE_RE = re.compile(
    r"(?:文章|本文|新闻|稿件|信息|消息)?来\s*源\s*[:：]\s*(?P<v>[^\s|｜()（）\[\]【】<>]{1,40})"
)
_SOURCE_LINE_RE = re.compile(r"^[（(【\[]?\s*(?:文章|本文|新闻|稿件|信息|消息)?来\s*源\s*[:：]")
# an unlabelled source beside the date: ``2019-09-26 10:56:28 证券时报网``
_DATE_TEXT_RE = re.compile(r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?(?:\s*\d{1,2}:\d{2}(?::\d{2})?)?")
_ORG_NAME_RE = regex.compile(
    r"\p{Han}{2,14}(?:网|报|社|台|刊|频道|新闻|财经|杂志|在线|传媒|资讯|证券|观察)(?:\p{Han}{0,4}号)?"
)
_AUTHOR_RES = (
    re.compile(r"作\s*者\s*[:：]\s*(?P<v>[^\s|｜()（）\[\]【】]{1,30})"),
    regex.compile(
        r"(?:^|[\s（(【\[])(?:本报)?记\s*者\s*[:：]?\s*(?P<v>[\p{Han}·]{2,4}(?:[、，,\s]+[\p{Han}·]{2,4})*)(?=$|[\s）)】\]])"
    ),
    re.compile(
        r"(?:责任编辑|责编|编辑)\s*[:：]\s*(?P<v>[^\s|｜()（）\[\]【】]{1,30}(?:、[^\s|｜()（）]{1,10})*)"
    ),
)
_BYLINE_LINE_RE = re.compile(
    r"^[（(【\[]?\s*(?:作\s*者|本报记者|记\s*者|撰\s*文|责任编辑|责编|编辑|编审|校对|审核)\s*[:：｜|\s]"
)
_EDITOR_CODE_RE = re.compile(r"_[A-Za-z]{1,4}\d{2,}$")
_DATE_LABEL_RE = re.compile(
    r"发布时间|发布日期|发表时间|发表于|更新时间|时间\s*[:：]|日期\s*[:：]|GMT|UTC|浏览次数|阅读量|来\s*源\s*[:：]"
)
_TZ_ONLY_RE = re.compile(r"^[(（]?\s*(?:GMT|UTC)\s*[+-]\s*\d{1,2}(?::?\d{2})?[^)）]{0,40}[)）]?$")
_TAGS_LINE_RE = re.compile(r"^(?:tags?|标签|关键词|关键字)\s*[:：]\s*(?P<v>.+)$", re.I)
_BACK_LINK_RE = re.compile(r"^[\[【]?\s*(?:返回|回到|back to)", re.I)
_SHARE_RE = re.compile(
    r"^(?:分享到|分享至|分享：|分享:|扫一扫|微信扫一扫|用微信扫|打印本页|【打印】|字号[:：]|收藏本页|关闭窗口|【关闭】)"
)
_DISCLAIMER_RE = re.compile(r"^[【\[（(]?\s*(?:免责声明|特别声明|版权声明|声明)\s*[】\]）)]?\s*[:：]?")
_COPYRIGHT_RE = re.compile(r"©|&copy;|版权所有|copyright|ICP备|ICP证|公网安备", re.I)
_URL_TEXT_RE = re.compile(r"^(?:https?:)?//\S+$|^www\.\S+$")
_ORIGINAL_LINK_RE = re.compile(r"原文链接|原文地址|阅读原文|查看原文|原文网址")

_DT_RE = re.compile(
    r"(?P<y>(?:19|20)\d{2})\s*[-/.年]\s*(?P<mo>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:(?:\s*|[T-]|\s*[,，]\s*)(?P<h>\d{1,2})\s*[:：时]\s*(?P<mi>\d{2})(?:\s*[:：分]\s*(?P<s>\d{2})(?:\.\d+)?)?\s*秒?)?"
    r"(?:\s*(?P<tz>Z(?![A-Za-z])|[+-]\d{2}:?\d{2}(?!\d)|(?:GMT|UTC)\s*[+-]\s*\d{1,2}(?::?\d{2})?))?"
)
_TZ_NEAR_RE = re.compile(r"(?:GMT|UTC)\s*(?P<sign>[+-])\s*(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?")

_META_DATE_KEYS = (
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


# ================================================================================================ helpers


def clean_text(s: str, *, cjk_breaks: bool = True) -> str:
    """Whitespace as a browser shows it: runs collapse to one space, a line break between two CJK characters
    disappears (CSS segment-break rule; the walker applies it per text node instead, so that whitespace
    *between* elements stays a space), invisible characters go; U+3000 inside the text is kept."""
    if not s or s.isspace():
        return ""
    if s.isascii():
        return " ".join(s.split())
    if "\u200b" in s or "\ufeff" in s or "\u00ad" in s or "\u200c" in s or "\u200d" in s or "\u2060" in s:
        s = _INVISIBLE_RE.sub("", s)
    if cjk_breaks and "\n" in s:
        s = _WIDE_BREAK_RE.sub("", s)
    return _WS_RUN_RE.sub(" ", s).strip()


_SOFT_BREAK = "\x01"
_SOFT_JOIN_RE = regex.compile(rf"(?<=[{_WIDE}])\s*\x01[\s\x01]*(?=[{_WIDE}])")


def _join_soft_breaks(s: str) -> str:
    """A <br> inside <strong>/<a>/… (a title broken over lines) joins the lines: nothing between CJK
    characters, a space otherwise."""
    return _SOFT_JOIN_RE.sub("", s).replace(_SOFT_BREAK, " ")


def _count(s: str) -> int:
    """Non-whitespace characters of ``s``."""
    return sum(map(len, s.split()))


def _norm_key(s: str) -> str:
    return re.sub(r"[\s\u3000]+", "", s or "")


def parse_datetime(text: str, *, default_tz: timezone | None = None) -> tuple[datetime | None, bool, bool]:
    """First date(-time) printed in ``text``: ``(datetime, has_time, has_tz)``; tz-naive results get
    ``default_tz`` when given. Understands ISO 8601, ``2022-05-26 14:18[:58] [+0800]``, ``2022/5/26``,
    ``2022年5月26日 14:18``, ``2007-08-20-23:59:59`` and a ``GMT+8``/``UTC+8`` marker anywhere nearby."""
    if not text or len(text) > 2000:
        text = (text or "")[:2000]
    for m in _DT_RE.finditer(text):
        try:
            y, mo, d = int(m["y"]), int(m["mo"]), int(m["d"])
            h = int(m["h"]) if m["h"] else 0
            mi = int(m["mi"]) if m["mi"] else 0
            s = int(m["s"]) if m["s"] else 0
            dt = datetime(y, mo, d, h, mi, s)
        except ValueError:
            continue
        tz = _parse_tz(m["tz"]) if m["tz"] else None
        if tz is None:
            near = _TZ_NEAR_RE.search(text)
            if near:
                tz = _parse_tz(near.group(0))
        has_tz = tz is not None
        if tz is None:
            tz = default_tz
        return (dt.replace(tzinfo=tz) if tz else dt), bool(m["h"]), has_tz
    return None, False, False


def _parse_tz(s: str) -> timezone | None:
    s = s.strip()
    if s == "Z":
        return UTC
    m = re.search(r"(?P<sign>[+-])\s*(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?$", s)
    if not m:
        return None
    h, mi = int(m["h"]), int(m["m"] or 0)
    if h > 14 or mi >= 60:
        return None
    delta = timedelta(hours=h, minutes=mi)
    return timezone(-delta if m["sign"] == "-" else delta)


def _text_of(el) -> str:
    """All text inside ``el`` (lxml.html's ``text_content`` for plain etree elements)."""
    return "".join(el.itertext())


def _attr_words(el) -> str:
    return f"{el.get('class', '')} {el.get('id', '')}".lower()


def _hint_of(el, tag: str) -> str | None:
    if tag in _TAG_HINT:
        return _TAG_HINT[tag]
    cls, ident = el.get("class"), el.get("id")
    if not cls and not ident:
        return None
    words = f"{cls or ''} {ident or ''}".lower()
    if len(words) < 3 or not _HINTABLE_RE.search(words):
        return None
    for key, reason in _HINT_SUBSTR:
        if key in words:
            return reason
    for w in re.split(r"[^a-z0-9]+", words):
        if w in _HINT_WORDS:
            return _HINT_WORDS[w]
    return None


def _is_hidden(el) -> bool:
    if el.get("hidden") is not None:
        return True
    style = el.get("style")
    if style and _HIDDEN_STYLE_RE.search(style):
        return True
    cls = el.get("class")
    return bool(cls and _HIDDEN_CLASS_RE.search(cls))


def _truncate(s: str, n: int = 200) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


# ================================================================================================ 1-4: input


def _check_bytes(data: bytes) -> None:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise HtmlInputError(f"expected bytes, got {type(data).__name__}", "not_html")
    if not data or not bytes(data[:4096]).strip():
        raise HtmlInputError(
            "empty body: no bytes to read" if not data else "empty body: whitespace only", "empty"
        )
    head = bytes(data[:16])
    for magic, what in _MAGIC:
        if head.startswith(magic):
            if what is None:  # BZh: bzip2 needs a block-size digit and the block magic
                if len(head) >= 10 and head[3:4].isdigit() and head[4:10] == b"1AY&SY":
                    raise HtmlInputError("not HTML: the bytes are bzip2-compressed data", "not_html")
                continue
            raise HtmlInputError(f"not HTML: the bytes are {what}", "not_html")


def _check_binary(text: str) -> None:
    """Raise for binary garbage. NUL bytes do not count: padding with NULs (a preallocated or partly
    written file) around a readable page is removed by ``_parse``."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    sample = text[:20000]
    if not sample.strip():
        raise HtmlInputError("empty body: no text after decoding", "empty")
    junk = len(_JUNK_CHAR_RE.findall(sample))
    if junk > max(8, len(sample) * 0.02):
        raise HtmlInputError(
            f"not HTML: binary data ({junk} control/invalid characters in the first {len(sample)} characters)",
            "binary",
        )


def _check_text(text: str) -> None:
    _check_binary(text)
    if "\x00" in text:
        text = text.replace("\x00", "")
    sample = text[:20000]
    if not _TAG_RE.search(text[:200000]):
        stripped = sample.lstrip()
        if stripped[:1] in "{[":
            try:
                json.loads(text)
            except ValueError:
                pass
            else:
                raise HtmlInputError("not HTML: the body is JSON", "not_html")
        raise HtmlInputError("not HTML: no HTML markup found (plain text or another format)", "not_html")


def _parse(text: str, warnings: list[str] | None = None):
    """lxml tree of the page; parser give-ups (nesting beyond libxml2's depth limit) go to ``warnings``."""
    text = _CONTROL_RE.sub("", text)
    text = re.sub(r"\A\s*<\?xml[^>]*\?>", "", text)
    # libxml2 stops reading at a stray </html> (pages pasted together from templates have one mid-page);
    # the parser closes body and html at the end of input anyway
    text = _END_DOC_RE.sub("", text)
    parser = lxml.etree.HTMLParser(
        encoding="utf-8", remove_comments=False, remove_pis=True, huge_tree=True, default_doctype=False
    )
    try:
        root = lxml.etree.fromstring(text.encode("utf-8", "surrogatepass"), parser=parser)
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError, TypeError) as exc:
        raise HtmlInputError(f"unparseable markup: {exc}", "unparseable") from exc
    if root is None:
        raise HtmlInputError("unparseable markup: the parser produced no document", "unparseable")
    if warnings is not None:
        for err in parser.error_log:
            if "Excessive depth" in err.message:
                warnings.append(
                    "markup nested deeper than the parser's limit (2048 levels); the rest of the page was not read"
                )
                break
    return root


# ================================================================================================ 5: head


@dataclass
class _Head:
    title: str | None = None
    metas: dict[str, list[str]] = field(default_factory=dict)  # lower-cased name/property → contents
    canonical: str | None = None
    base_href: str | None = None
    jsonld: list[dict] = field(default_factory=list)
    broken: bool = False  # a head tag with malformed attributes (unescaped quotes / markup inside)

    def meta(self, *keys: str) -> str | None:
        for k in keys:
            for v in self.metas.get(k, ()):
                v = clean_text(v)
                if v:
                    return v
        return None


_BROKEN_ATTR_RE = re.compile(r"[\"'<>;/=]|^[^a-z_:]", re.I)


def _read_head(root) -> _Head:
    head = _Head()
    for el in root.iter("title", "meta", "link", "base"):
        tag = el.tag
        if tag == "title":
            if head.title is None:
                t = clean_text(_text_of(el))
                if t:
                    head.title = t
        elif tag == "meta":
            key = el.get("property") or el.get("name") or el.get("itemprop") or el.get("http-equiv")
            if key:
                head.metas.setdefault(key.strip().lower(), []).append(el.get("content") or "")
            for name in el.attrib:
                if _BROKEN_ATTR_RE.search(name):
                    head.broken = True
            if "<" in (el.get("content") or "") and key and "description" in key.lower():
                head.broken = True
        elif tag == "link":
            rel = (el.get("rel") or "").lower().split()
            if "canonical" in rel and el.get("href") and head.canonical is None:
                head.canonical = el.get("href").strip()
        elif tag == "base" and el.get("href") and head.base_href is None:
            head.base_href = el.get("href").strip()
    for script in root.iter("script"):
        if (script.get("type") or "").lower() == "application/ld+json" and script.text:
            try:
                data = json.loads(script.text)
            except ValueError:
                continue
            items = data if isinstance(data, list) else [data]
            head.jsonld.extend(d for d in items if isinstance(d, dict))
    return head


# ================================================================================================ 6: preclean


def _record(removed: list[Removed], text: str, reason: str, *, clean: bool = False) -> None:
    if not clean:
        text = clean_text(text)
    if text:
        removed.append(Removed(page=None, text=_truncate(text, 300), reason=reason))


def _drop(el) -> None:
    """Remove ``el`` and its content, keeping its tail text in place."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    if tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def _preclean(root, body, head: _Head, removed: list[Removed], warnings: list[str]) -> None:
    """Drop non-content elements (recording their text) and content that broken head markup spilled into
    <body>."""
    for el in root.iter(lxml.etree.Comment, *DROP_TAGS):
        tag = el.tag
        if tag is lxml.etree.Comment:
            _record(removed, el.text or "", "comment")
        else:
            reason = DROP_TAGS[tag]
            if reason in ("script", "style"):
                _record(removed, el.text or "", reason)
            elif reason == "form":
                _record(removed, _text_of(el) if tag != "input" else (el.get("value") or ""), "form")
    lxml.etree.strip_elements(
        root, lxml.etree.Comment, lxml.etree.ProcessingInstruction, *DROP_TAGS, with_tail=False
    )
    hidden = [el for el in body.iter() if el is not body and _is_hidden(el)]
    for el in hidden:
        if el.getparent() is None or body not in el.iterancestors():  # inside an already dropped one
            continue
        _record(removed, _text_of(el), "hidden")
        _drop(el)
    _drop_head_spill(body, head, removed, warnings)


def _drop_head_spill(body, head: _Head, removed: list[Removed], warnings: list[str]) -> None:
    """An unescaped attribute in <head> (``<meta content="{{ page.content }}">`` with quotes in the content)
    ends the head early: the parser starts <body> there, so the rest of the attribute value and the remaining
    head elements show up as the first children of <body>, duplicating the article. When the head had such a
    broken tag, or a <title> sits directly in <body>, everything in <body> up to the last head-only element
    (<meta>/<title>/<link>/<base>) is dropped."""
    children = list(body)
    last = -1
    title_in_body = False
    for i, child in enumerate(children):
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag in HEAD_ONLY_TAGS and child.get("itemprop") is None:
            last = i
            title_in_body = title_in_body or tag == "title"
    if last < 0 or not (head.broken or title_in_body):
        return
    spill = children[: last + 1]
    if (
        not any(isinstance(c.tag, str) and c.tag not in HEAD_ONLY_TAGS for c in spill)
        and not (body.text or "").strip()
    ):
        return
    n = 0
    if (body.text or "").strip():
        _record(removed, body.text, "head_spill")
        n += 1
    body.text = None
    for child in spill:
        if isinstance(child.tag, str) and child.tag not in HEAD_ONLY_TAGS:
            _record(removed, _text_of(child), "head_spill")
            n += 1
        _record(removed, child.tail or "", "head_spill")
        child.tail = None
        body.remove(child)
    warnings.append(f"broken markup in <head> spilled into <body>; {n} spilled text block(s) dropped")


# ================================================================================================ 7: walk


@dataclass(slots=True)
class _Seg:
    text: str
    owner: object  # the block element owning the text
    tag: str
    n: int  # non-space characters
    n_link: int
    n_bold: int
    centered: bool
    images: list
    hint: str | None = None
    hint_el: object = None
    table: int | None = None  # index into _Walker.tables
    link_els: list | None = None  # <a href> elements in the segment

    @property
    def links(self) -> list[tuple[str, str]] | None:
        """(text, href) of the segment's links."""
        if not self.link_els:
            return None
        return [(clean_text(_text_of(a)), a.get("href") or "") for a in self.link_els]

    in_container: bool = False

    @property
    def ld(self) -> float:
        return self.n_link / self.n if self.n else 0.0

    @property
    def strong_only(self) -> bool:
        return self.n > 0 and self.n_bold >= self.n


class _Walker:
    """Flattens a tree into ``_Seg`` text blocks in document order (see module docstring, step 7)."""

    def __init__(self, base_url: str | None, removed: list[Removed]):
        self.base_url = base_url
        self.removed = removed
        self.segs: list[_Seg] = []
        self.tables: list[tuple[Table, object]] = []  # (table, element)
        self.owners: list = []
        self.hints: list[tuple[str | None, object]] = [(None, None)]
        self.link_depth = 0
        self.bold_depth = 0
        self.soft_depth = 0
        self.center_depth = 0
        self._reset()

    def _reset(self) -> None:
        self.buf: list[str] = []
        self.n = self.n_link = self.n_bold = 0
        self.images: list[Image] = []
        self.links: list = []
        self.centered = False

    # -- buffer
    def text(self, s: str | None) -> None:
        if not s or (not self.buf and s.isspace()):
            return
        if "\n" in s and not s.isspace():
            s = _WIDE_BREAK_RE.sub("", s)
        self.buf.append(s)
        n = _count(s)
        if n:
            self.n += n
            if self.link_depth:
                self.n_link += n
            if self.bold_depth:
                self.n_bold += n
            if self.center_depth:
                self.centered = True

    def flush(self) -> None:
        if self.n or self.images:
            text = "".join(self.buf) if self.buf else ""
            if _SOFT_BREAK in text:
                text = _join_soft_breaks(text)
            text = clean_text(text, cjk_breaks=False)
            if text or self.images:
                owner = self.owners[-1]
                hint, hint_el = self.hints[-1]
                self.segs.append(
                    _Seg(
                        text=text,
                        owner=owner,
                        tag=owner.tag,
                        n=_count(text),
                        n_link=self.n_link,
                        n_bold=self.n_bold,
                        centered=self.centered or self.center_depth > 0,
                        images=self.images,
                        hint=hint,
                        hint_el=hint_el,
                        link_els=self.links or None,
                    )
                )
        if self.buf or self.images or self.links:
            self._reset()

    # -- tree
    def walk(self, el, depth: int = 0) -> None:
        tag = el.tag
        if not isinstance(tag, str):
            self.text(el.tail)
            return
        if tag in HEAD_ONLY_TAGS:
            self.text(el.tail)
            return
        if tag == "br":
            if self.soft_depth:
                self.buf.append(_SOFT_BREAK)
            else:
                self.flush()
            self.text(el.tail)
            return
        if tag == "img":
            self.image(el)
            self.text(el.tail)
            return
        if tag == "hr":
            self.flush()
            self.text(el.tail)
            return
        if depth > MAX_WALK_DEPTH:
            self.text(_text_of(el))
            self.text(el.tail)
            return
        if tag == "table" and self.table(el):
            self.text(el.tail)
            return

        block = tag in BLOCK_TAGS
        hint = _hint_of(el, tag) if block else None
        style = el.get("style")
        align = el.get("align")
        centered = (
            tag == "center"
            or (style is not None and "center" in style)
            or (align is not None and align.lower() == "center")
        )
        if block:
            self.flush()
            self.owners.append(el)
        if hint:
            self.hints.append((hint, el))
        if centered:
            self.center_depth += 1
        link = tag == "a" and el.get("href") is not None
        bold = tag in BOLD_TAGS or tag in HEADING_LEVEL
        soft = tag in SOFT_BREAK_TAGS
        if link:
            self.link_depth += 1
            self.links.append(el)
        if bold:
            self.bold_depth += 1
        if soft and not block:
            self.soft_depth += 1
        saved_soft = self.soft_depth
        if block:
            self.soft_depth = 0

        self.text(el.text)
        for child in el:
            self.walk(child, depth + 1)

        if block:
            self.soft_depth = saved_soft
        if link:
            self.link_depth -= 1
        if bold:
            self.bold_depth -= 1
        if soft and not block:
            self.soft_depth -= 1
        if centered:
            self.center_depth -= 1
        if block:
            self.flush()
            self.owners.pop()
        if hint:
            self.hints.pop()
        self.text(el.tail)

    def image(self, el) -> None:
        src = (el.get("src") or el.get("data-src") or el.get("data-original") or "").strip()
        if not src or src.startswith("data:"):
            return
        alt = clean_text(el.get("alt") or "") or None
        parent = el.getparent()
        link = parent if parent is not None and parent.tag == "a" else None
        href = link.get("href", "") if link is not None else ""
        if (
            _STOCK_CHART_RE.search(src)
            or _STOCK_CHART_RE.search(alt or "")
            or (link is not None and "ImageRemark" in (link.get("class") or ""))
            or (href and _STOCK_CHART_RE.search(href) and alt and alt.startswith("K"))
        ):
            self.removed.append(Removed(page=None, text=alt or src, reason="stock_chart"))
            return
        try:
            w = int(re.sub(r"\D", "", el.get("width") or "") or 0)
            h = int(re.sub(r"\D", "", el.get("height") or "") or 0)
        except ValueError:
            w = h = 0
        if (w and w <= 40) or (h and h <= 40) or _DECOR_IMG_RE.search(src):  # icons, spacers, page arrows
            return
        if self.base_url:
            with contextlib.suppress(ValueError):  # malformed URLs stay as written
                src = urljoin(self.base_url, src)
        self.images.append(Image(src=src, alt=alt))

    def table(self, el) -> bool:
        """Turn a data table into a Table and one placeholder segment; False for a layout table."""
        grid = _data_table_grid(el)
        if grid is None:
            return False
        caption_el = next(el.iter("caption"), None)
        caption = clean_text(_text_of(caption_el)) if caption_el is not None else None
        self.flush()
        header, rows = grid[0], grid[1:]
        table = Table(table_id="", header=header, rows=rows, caption=caption or None, kind="html")
        self.tables.append((table, el))
        text = " ".join(c for row in grid for c in row if c)
        n_link = sum(_count(_text_of(a)) for a in el.iter("a"))
        hint, hint_el = self.hints[-1]
        seg = _Seg(text, el, "table", _count(text), n_link, 0, False, [], hint, hint_el, len(self.tables) - 1)
        self.segs.append(seg)
        return True


def _cell_text(cell) -> str:
    parts = []
    for node in cell.iter():
        if node.tag == "br":
            parts.append("\n")
        if node is not cell and node.text and isinstance(node.tag, str):
            parts.append(node.text)
        elif node is cell and cell.text:
            parts.append(cell.text)
        if node is not cell and node.tail:
            parts.append(node.tail)
    return clean_text("".join(parts))


def _span(cell, name: str) -> int:
    try:
        return max(1, min(MAX_SPAN, int(re.sub(r"[^\d]", "", cell.get(name) or "1") or 1)))
    except ValueError:
        return 1


def _data_table_grid(table) -> list[list[str]] | None:
    """Rows of a data table with spans filled in, or None for a layout/navigation table."""
    it = table.iter("table")
    next(it)
    if next(it, None) is not None:
        return None
    rows = [tr for tr in table.iter("tr")]
    if len(rows) < 2 or len(rows) > 5000:
        return None
    raw = [[c for c in tr if isinstance(c.tag, str) and c.tag in ("td", "th")] for tr in rows]
    if max((len(r) for r in raw), default=0) < 2:
        return None
    texts = [_cell_text(c) for r in raw for c in r]
    nonempty = [t for t in texts if t]
    if len(nonempty) < 3:
        return None
    if sum(len(t) > 100 for t in nonempty) > 0.2 * len(nonempty) or any(len(t) > 400 for t in nonempty):
        return None
    total = sum(_count(t) for t in nonempty)
    links = sum(_count(_text_of(a)) for a in table.iter("a"))
    if total == 0 or links > 0.5 * total:
        return None
    grid: dict[tuple[int, int], str] = {}
    n_cols = 0
    k = 0
    for r, cells in enumerate(raw):
        c = 0
        for cell in cells:
            while (r, c) in grid:
                c += 1
            text = texts[k]
            k += 1
            rs, cs = _span(cell, "rowspan"), _span(cell, "colspan")
            for dr in range(min(rs, len(raw) - r)):
                for dc in range(cs):
                    grid[(r + dr, c + dc)] = text
            c += cs
            n_cols = max(n_cols, c)
    out = [[grid.get((r, c), "") for c in range(n_cols)] for r in range(len(raw))]
    out = [row for row in out if any(row)]
    return out if len(out) >= 2 else None


# ================================================================================================ 8: container


def _value(seg: _Seg, hint_ok: bool) -> float:
    """How much a segment argues that its ancestors hold the article."""
    n = seg.n
    if n == 0:
        return 0.0
    if seg.hint and hint_ok:
        return -float(n)
    ld = seg.ld
    if ld > 0.5:
        return -n * ld
    if n <= SHORT and (_COPYRIGHT_RE.search(seg.text) or _SHARE_RE.match(seg.text)):
        return -float(n)
    if n <= SHORT and (_SOURCE_LINE_RE.match(seg.text) or _BYLINE_LINE_RE.match(seg.text)):
        return 0.0
    p = len(_PUNCT_RE.findall(seg.text))
    v = n * (1.0 - ld) ** 2 + 4.0 * p
    if seg.table is not None:
        v *= 0.5
    elif p == 0:
        v -= 10.0  # labels, channel names, lone headings: text, but no prose
    return v


def _valid_hints(segs: list[_Seg], heading_hinted: frozenset[int] | set[int] = frozenset()) -> set[int]:
    """Hinted elements (class/id says footer/share/related…, or a 推荐阅读-style heading labels them) whose
    hint is believed. A class-hinted element that holds more than half of the page's prose value is taken to
    be the article after all (a container whose class happens to contain such a word); a heading-labelled
    one (comment threads are often longer than the article) only when it holds more than 90 %."""
    total = 0.0
    agg: dict[int, float] = {}
    for s in segs:
        v = max(0.0, _value(s, False))
        total += v
        if s.hint_el is not None:
            agg[id(s.hint_el)] = agg.get(id(s.hint_el), 0.0) + v
    return {k for k, v in agg.items() if v <= (0.9 if k in heading_hinted else 0.5) * total}


def _label_related_blocks(segs: list[_Seg]) -> set[int]:
    """A short heading such as 推荐阅读 / 相关新闻 / 热点推荐 (or 我要评论 / 全部评论 23条) marks its parent
    element as a related-links (comments) block: the segments from the heading on inside it get the hint
    ``related`` (``comments``) unless they already carry one. Returns the ids of the labelled elements."""
    heading_hinted: set[int] = set()
    for s in segs:
        if s.n > 16 or s.hint:
            continue
        if _RELATED_HEADING_RE.match(s.text):
            reason = "related"
        elif _COMMENTS_HEADING_RE.match(s.text):
            reason = "comments"
        else:
            continue
        holder = s.owner.getparent() if s.tag in HEADING_LEVEL or s.tag in ("div", "p", "span") else None
        if holder is None or holder.tag in ("body", "html"):
            continue
        inside = set(holder.iter())
        after = False
        for t in segs:
            after = after or t is s
            if after and t.hint is None and t.owner in inside:
                t.hint, t.hint_el = reason, holder
        heading_hinted.add(id(holder))
    return heading_hinted


def _hints_and_container(body, segs: list[_Seg], heading_hinted: set[int]) -> tuple[set[int], object]:
    """Believed hints and the article container. First every hint is believed; that container is kept when
    it still holds real prose (≥ 2 paragraphs of ≥ 30 characters with sentence punctuation and a value of
    ≥ 100, or ≥ 20 % of the value found with the size-checked hints of ``_valid_hints``) - so a comment thread
    longer than the article stays out. Otherwise a hint must have wiped out the article itself (an article
    container whose class says "share"…), and the size-checked hints decide."""
    every = {id(s.hint_el) for s in segs if s.hint_el is not None}
    checked = _valid_hints(segs, heading_hinted)
    first, v_first = _choose_container(body, segs, every)
    if every == checked:
        return every, first
    second, v_second = _choose_container(body, segs, checked)
    if first is None or first is second:
        return checked, second
    inside = set(first.iter())
    paragraphs = sum(
        1
        for s in segs
        if s.owner in inside and s.n >= 30 and s.ld < 0.3 and len(_SENTENCE_PUNCT_RE.findall(s.text)) >= 2
    )
    if paragraphs >= 2 and (v_first >= 100 or v_first >= 0.2 * v_second):
        return every, first
    return checked, second


def _choose_container(body, segs: list[_Seg], valid: set[int]):
    """The element whose subtree has the largest summed segment value; on a tie the deepest one (so that
    zero-value neighbours such as layout images stay outside)."""
    sums: dict = {}
    for s in segs:
        v = _value(s, s.hint_el is not None and id(s.hint_el) in valid)
        sums[s.owner] = sums.get(s.owner, 0.0) + v
    if not sums:
        return None, 0.0
    for el in reversed(list(body.iter())):
        v = sums.get(el)
        if v is None or el is body:
            continue
        parent = el.getparent()
        if parent is not None:
            sums[parent] = sums.get(parent, 0.0) + v
    best, best_v = None, float("-inf")
    for el in body.iter():
        v = sums.get(el)
        if v is not None and v >= best_v:
            best, best_v = el, v
    if best is None or best_v <= 0:
        return None, best_v
    return best, best_v


# ================================================================================================ 9: classify


@dataclass
class _Printed:
    """Metadata printed in the page text."""

    source: str | None = None
    authors: dict[int, str] = field(default_factory=dict)  # priority → name
    dates: list[tuple[datetime, bool, bool]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    original_url: str | None = None


def _author_of(text: str) -> tuple[int, str] | None:
    for prio, rx in enumerate(_AUTHOR_RES):
        m = rx.search(text)
        if m:
            v = _EDITOR_CODE_RE.sub("", m["v"].strip(" ：:，,。"))
            if v:
                return prio, v
    return None


def _source_of(text: str) -> str | None:
    m = _SOURCE_RE.search(text)
    if not m:
        return None
    v = m["v"].strip(" ：:，,。")
    return v or None


def _unlabelled_source(date_line: str) -> str | None:
    """A news organisation's name printed beside the date with no 来源 label: what is left
    of the line, when that has the shape of one (…网, …报, …社, …频道)."""
    rest = [t for t in re.split(r"[\s|｜/·]+", _DATE_TEXT_RE.sub(" ", date_line)) if t]
    return rest[0] if len(rest) == 1 and _ORG_NAME_RE.fullmatch(rest[0]) else None


def _read_printed(seg: _Seg, printed: _Printed, *, as_line: bool) -> str | None:
    """Reason to drop a short metadata line (and fill ``printed`` from it), or None for ordinary text."""
    text = seg.text
    if seg.n == 0 or len(text) > 200:
        return None
    if _TAGS_LINE_RE.match(text):
        v = _TAGS_LINE_RE.match(text)["v"]
        printed.tags.extend(t for t in re.split(r"\s+[-|｜/]\s+|[,，;；、]\s*|\s{2,}", v) if t.strip())
        return "tags_line"
    is_source_line = bool(_SOURCE_LINE_RE.match(text)) and len(text) <= SHORT
    if _TZ_ONLY_RE.match(text):
        return "dateline" if as_line else None
    has_date = False
    if len(text) <= SHORT:
        dt, has_time, has_tz = parse_datetime(text)
        if dt is not None and (has_time or _DATE_LABEL_RE.search(text)):
            has_date = True
            printed.dates.append((dt, has_time, has_tz))
    src = _source_of(text) if len(text) <= SHORT and (is_source_line or has_date or "来源" in text) else None
    if src is None and has_date:
        src = _unlabelled_source(text)
    if src and printed.source is None:
        printed.source = src
    au = _author_of(text) if len(text) <= SHORT else None
    is_byline = bool(_BYLINE_LINE_RE.match(text)) and len(text) <= SHORT
    if au and (is_byline or has_date or is_source_line):
        printed.authors.setdefault(au[0], au[1])
    if not as_line:
        return None
    if is_source_line:
        return "source_line"
    if has_date:
        return "dateline"
    if is_byline and au:
        return "editor_line" if au[0] == 2 else "byline"
    return None


def _boilerplate_reason(seg: _Seg, hint_ok: bool) -> str | None:
    text = seg.text
    short = len(text) <= SHORT
    if seg.hint and hint_ok:
        return seg.hint
    if _BACK_LINK_RE.match(text) and (seg.ld > 0.5 or short):
        return "back_link"
    if short and _SHARE_RE.match(text):
        return "share_widget"
    if _DISCLAIMER_RE.match(text) and (len(text) < 600):
        return "disclaimer"
    if short and _COPYRIGHT_RE.search(text):
        return "footer"
    if seg.ld > 0.6 and seg.table is None:
        return "navigation"
    if not _WORDCHAR_RE.search(text):
        return "symbols_only"
    return None


_RELATED_HEADING_RE = re.compile(
    r"^[【\[]?\s*(?:推荐阅读|相关阅读|相关新闻|相关文章|相关报道|相关稿件|相关链接|延伸阅读|扩展阅读|热点推荐|精彩推荐|热门推荐|"
    r"猜你喜欢|为你推荐|更多精彩|热门文章|热点新闻|热门新闻|精彩图集|视频新闻|热点排行|"
    r"大家都爱看|新闻推荐|图片新闻|排行榜|今日推荐|编辑推荐|往期回顾)\s*[】\]]?[:：]?$"
)
_COMMENTS_HEADING_RE = re.compile(
    r"^[【\[]?\s*(?:我要评论|发表评论|全部评论|网友评论|最新评论|热门评论|精彩评论|用户评论|读者评论|评论区|"
    r"评论列表|网友跟帖|跟帖评论)\s*(?:[（(]?\s*\d+\s*条?\s*[）)]?)?\s*[】\]]?[:：]?$"
)
_CAPTION_START_RE = re.compile(r"^(?:图片?[来源为：:／/]|（?图[：:／/]|▲|△|↑|上图|下图|资料图|摄影|摄[:：])")


def _is_caption(seg: _Seg) -> bool:
    if seg.n == 0 or seg.n > 60 or seg.table is not None:
        return False
    if _CAPTION_START_RE.match(seg.text):
        return True
    words = _attr_words(seg.owner)
    if any(w in words for w in ("caption", "descr", "img_desc", "pic_desc", "imgtitle", "pictext")):
        return True
    return seg.centered and not seg.strong_only and not re.search(r"[。！？]$", seg.text)


def _record_seg(removed: list[Removed], seg: _Seg, reason: str) -> None:
    """Record a dropped line; a line of several back links (返回… ｜ 返回首页) is recorded link by link."""
    if reason == "back_link" and seg.link_els and len(seg.link_els) > 1:
        for text, _ in seg.links:
            _record(removed, text, reason)
    else:
        _record(removed, seg.text, reason, clean=True)


def _line_reason(seg: _Seg, printed: _Printed, hint_ok: bool) -> str | None:
    """Why a text line is not article text (metadata line, original-article link, boilerplate), filling
    ``printed`` from metadata lines; None for article text."""
    reason = _read_printed(seg, printed, as_line=True)
    if reason is not None:
        return reason
    links = seg.links if seg.link_els and seg.n <= 300 else None
    if links:
        text, href = links[0]
        if (
            len(links) == 1
            and seg.ld > 0.9
            and (_URL_TEXT_RE.match(text) or _ORIGINAL_LINK_RE.search(seg.text))
        ):
            printed.original_url = printed.original_url or href
            return "original_link"
        if _ORIGINAL_LINK_RE.match(seg.text):
            printed.original_url = printed.original_url or links[-1][1]
            return "original_link"
    return _boilerplate_reason(seg, hint_ok)


def _classify(
    segs: list[_Seg],
    valid: set[int],
    removed: list[Removed],
    printed: _Printed,
) -> tuple[list[Block], list[Image], list[int]]:
    """Blocks, images and (walker) table indices of the in-container segments, in order; the rest of the
    container's lines go to ``removed`` with a reason."""
    blocks: list[Block] = []
    images: list[Image] = []
    table_ix: list[int] = []
    last_image: Image | None = None
    i = 0
    while i < len(segs):
        seg = segs[i]
        i += 1
        hint_ok = seg.hint_el is not None and id(seg.hint_el) in valid
        if seg.images:
            images.extend(seg.images)
            last_image = seg.images[-1]
            if seg.n and seg.n <= 60 and not seg.strong_only:
                # an image with its own short caption (e.g. <span class=img_descr>)
                last_image.caption = seg.text
                last_image = None
                continue
            if seg.n == 0:
                continue
        elif last_image is not None:
            img, last_image = last_image, None
            if _is_caption(seg):
                img.caption = seg.text
                continue
        if seg.n == 0:
            continue
        reason = _line_reason(seg, printed, hint_ok)
        if reason is not None:
            _record_seg(removed, seg, reason)
            continue
        if seg.table is not None:
            table_ix.append(seg.table)
            blocks.append(Block(kind=BlockKind.TABLE, text="", table_index=seg.table))
            continue
        level = HEADING_LEVEL.get(seg.tag)
        if level is None and seg.strong_only and seg.n <= 80:
            level = 7
        if level is not None:
            blocks.append(Block(kind=BlockKind.HEADING, text=seg.text, heading_level=level))
        else:
            blocks.append(Block(kind=BlockKind.PARAGRAPH, text=seg.text))
    return blocks, images, table_ix


def _finish_tables(blocks: list[Block], walker_tables: list[tuple[Table, object]]) -> list[Table]:
    """Number the kept tables t1, t2, … and point the TABLE blocks at them; fill missing captions from the
    preceding short block."""
    tables: list[Table] = []
    for bi, b in enumerate(blocks):
        if b.kind is not BlockKind.TABLE:
            continue
        table = walker_tables[b.table_index][0]
        table.table_id = f"t{len(tables) + 1}"
        if not table.caption and bi > 0 and blocks[bi - 1].kind is not BlockKind.TABLE:
            prev = blocks[bi - 1].text
            if len(prev) <= 50 and ("表" in prev or prev.endswith((":", "："))):
                table.caption = prev
        blocks[bi] = Block(kind=BlockKind.TABLE, text=table.caption or "", table_index=len(tables))
        tables.append(table)
    return tables


def _drop_summary_duplicate(blocks: list[Block], removed: list[Removed]) -> list[Block]:
    """A lead/summary paragraph at the top that the body repeats (irregularity 3 of finews) is dropped."""
    for k in range(min(2, len(blocks) - 1)):
        b = blocks[k]
        if b.kind is not BlockKind.PARAGRAPH:
            continue
        core = _norm_key(re.sub(r"[（(][^（）()]{1,20}[）)]\s*$", "", b.text))
        if len(core) < 20:
            continue
        rest = "".join(_norm_key(x.text) for x in blocks[k + 1 :])
        if core in rest:
            removed.append(Removed(page=None, text=b.text, reason="summary_duplicate"))
            return blocks[:k] + blocks[k + 1 :]
    return blocks


# ================================================================================================ 10: metadata

_TITLE_SEP_RE = re.compile(r"\s*(?:__?|--|——|\s[-–—|｜·]\s|[|｜]|-)\s*")
_SITE_WORD_RE = re.compile(r"网|频道|站|报|新闻|财经|官网|政府|在线|中心|\.com|\.cn|sina|sohu|163|qq", re.I)


def _strip_site_suffix(title: str) -> str:
    """``债券市场…这么说_新浪财经_新浪网`` → ``债券市场…这么说``: trailing segments after a separator are
    removed while they are short (≤ 12 characters) or look like a site/channel name."""
    t = title.strip()
    for _ in range(5):
        parts = list(_TITLE_SEP_RE.finditer(t))
        if not parts:
            break
        last = parts[-1]
        tail = t[last.end() :]
        front = t[: last.start()]
        if not front.strip():
            t = tail
            continue
        if len(tail) <= 12 or _SITE_WORD_RE.search(tail) and len(tail) <= 30:
            t = front
        else:
            break
    return t.strip()


def _choose_title(head: _Head, segs: list[_Seg], warnings: list[str]) -> str | None:
    site_names = {_norm_key(v) for v in (head.meta("og:site_name"), head.meta("application-name")) if v}
    raw = head.title or ""
    if raw:
        parts = _TITLE_SEP_RE.split(raw)
        if len(parts) > 1 and parts[-1].strip():
            site_names.add(_norm_key(parts[-1]))
    site_names.discard("")
    cands: list[str] = []
    for key in ("og:title", "twitter:title"):
        for v in head.metas.get(key, ()):
            v = clean_text(v)
            if v:
                cands.append(v)
    for d in head.jsonld:
        h = d.get("headline")
        if isinstance(h, str) and clean_text(h):
            cands.append(clean_text(h))
    h1s = [s.text for s in segs if s.tag == "h1" and s.n and s.n <= 200][:5]
    cands.extend(h1s)
    cands = [c for c in cands if _norm_key(c) not in site_names]
    key = _norm_key(raw)
    consistent = [c for c in cands if key and key.startswith(_norm_key(c))]
    if consistent:
        return max(consistent, key=lambda c: len(_norm_key(c)))
    if h1s and [h for h in h1s if _norm_key(h) not in site_names]:
        return [h for h in h1s if _norm_key(h) not in site_names][0]
    if cands:
        return cands[0]
    stripped = _strip_site_suffix(raw) if raw else ""
    if stripped and _norm_key(stripped) not in site_names:
        return stripped
    warnings.append("no title found (no <title>, og:title or <h1> with text)")
    return None


def _meta_datetime(head: _Head) -> tuple[datetime, bool, bool] | None:
    for key in _META_DATE_KEYS:
        for v in head.metas.get(key, ()):
            dt, has_time, has_tz = parse_datetime(v)
            if dt is not None:
                return dt, has_time, has_tz
    for d in head.jsonld:
        v = d.get("datePublished") or d.get("dateCreated")
        if isinstance(v, str):
            dt, has_time, has_tz = parse_datetime(v)
            if dt is not None:
                return dt, has_time, has_tz
    return None


def _choose_published(
    head: _Head, printed: _Printed, time_els: list[str], warnings: list[str]
) -> datetime | None:
    meta = _meta_datetime(head)
    timed = [(dt, ht, tz) for v in time_els for dt, ht, tz in [parse_datetime(v)] if dt is not None]
    ranked = []
    if meta and meta[1]:
        ranked.append(meta)
    ranked.extend(d for d in printed.dates if d[1])
    ranked.extend(d for d in timed if d[1])
    if meta and not meta[1]:
        ranked.append(meta)
    ranked.extend(d for d in printed.dates if not d[1])
    ranked.extend(d for d in timed if not d[1])
    if not ranked:
        warnings.append("no publish date found")
        return None
    dt, _, has_tz = ranked[0]
    if dt.tzinfo is None:
        warnings.append(TZ_ASSUMED_WARNING)
        dt = dt.replace(tzinfo=CST)
    return dt


def _split_keywords(v: str | None, title: str | None) -> list[str]:
    if not v or (title and _norm_key(v) == _norm_key(title)):
        return []
    out = []
    for t in re.split(r"[,，;；|｜、]\s*", v):
        t = t.strip()
        if t and t not in out and len(t) <= 40:
            out.append(t)
    return out


_SOURCE_EL_XPATH = lxml.etree.XPath(".//*[contains(@class,'source') or contains(@id,'source')]")
_CRUMB_XPATH = lxml.etree.XPath(
    ".//*[contains(@class,'crumb') or contains(@id,'crumb') or contains(@class,'position')"
    " or contains(@id,'position') or contains(@class,'location') or contains(@id,'location')]"
)


def _source_element(body, container) -> str | None:
    """Text of a small element whose class/id names it a source (``<span class="source">新浪财经</span>``)."""
    for el in _SOURCE_EL_XPATH(body):
        names = f"{el.get('class', '')} {el.get('id', '')}".lower()
        if re.search(r"pop|dialog|modal|mask|tip|btn|layer|share", names):
            continue  # a "source" pop-up or button, not the article's source line
        text = clean_text(_text_of(el))
        text = re.sub(r"^(?:文章|本文)?来\s*源\s*[:：]\s*", "", text)
        if 2 <= len(text) <= 30 and not _SENTENCE_PUNCT_RE.search(text) and parse_datetime(text)[0] is None:
            return text
    return None


def _breadcrumb(body) -> list[str]:
    """Link texts of a breadcrumb trail (class/id crumb, position, location), without the home link."""
    for el in _CRUMB_XPATH(body):
        names = [clean_text(_text_of(a)) for a in el.iter("a")]
        names = [n for n in names if n and len(n) <= 20 and not re.search(r"首页|主页|home", n, re.I)]
        if names:
            return names[:5]
    return []


# ================================================================================================ 11: entry


@dataclass
class FragmentResult:
    """What ``extract_fragment`` found in a piece of article HTML (every segment counts as article)."""

    blocks: list[Block]
    tables: list[Table]
    images: list[Image]
    source_name: str | None
    author: str | None
    dates: list[tuple[datetime, bool, bool]]
    tags: list[str]
    original_url: str | None


def extract_fragment(
    html: str, removed: list[Removed], warnings: list[str], *, base_url: str | None = None
) -> FragmentResult:
    """Blocks of an HTML fragment that *is* the article (e.g. a post body): the same cleaning, walking and
    line classification as ``extract_html``, without looking for the main-content container."""
    root = _parse(f"<html><head></head><body>{html}</body></html>")
    body = root.find("body")
    if body is None:
        body = root
    _preclean(root, body, _Head(), removed, warnings)
    walker = _Walker(base_url, removed)
    walker.owners.append(body)
    walker.text(body.text)
    for child in body:
        walker.walk(child, 1)
    walker.flush()
    segs = walker.segs
    valid = _valid_hints(segs, _label_related_blocks(segs))
    printed = _Printed()
    blocks, images, _ = _classify(segs, valid, removed, printed)
    tables = _finish_tables(blocks, walker.tables)
    blocks = _drop_summary_duplicate(blocks, removed)
    return FragmentResult(
        blocks=blocks,
        tables=tables,
        images=images,
        source_name=printed.source,
        author=printed.authors[min(printed.authors)] if printed.authors else None,
        dates=printed.dates,
        tags=printed.tags,
        original_url=printed.original_url,
    )


def _title_block(
    blocks: list[Block], title: str | None, removed: list[Removed]
) -> tuple[list[Block], str | None]:
    """Drop a copy of the title at the top of the body; when the body's copy differs only by whitespace
    (``2007　年末`` in <title> vs ``2007年末`` in the text), the body's version becomes the title."""
    if not title:
        return blocks, title
    key = _norm_key(title)
    for k, b in enumerate(blocks[:3]):
        if b.kind is BlockKind.TABLE:
            continue
        if _norm_key(b.text) == key:
            removed.append(Removed(page=None, text=b.text, reason="title"))
            if b.text != title and len(b.text) < len(title):
                title = b.text
            return blocks[:k] + blocks[k + 1 :], title
    return blocks, title


def _absolute(base: str | None, href: str | None) -> str | None:
    if not href or not base:
        return href or None
    try:
        return urljoin(base, href)
    except ValueError:
        return href


def _no_article(source: str, warnings: list[str]) -> tuple[str, str]:
    """(message, reason): markup too deep for the parser is ``too_complex``, not missing text."""
    why = next((w for w in warnings if w.startswith("markup nested")), None)
    if why:
        return f"no article text found in {source}: {why}", "too_complex"
    return f"no article text found in {source} (only navigation, links or boilerplate)", "no_article"


def extract_html(
    data: bytes, *, source: str, url: str | None = None, http_content_type: str | None = None
) -> HtmlExtraction:
    """Extract one article page. Raises ``HtmlInputError`` (only) for input that is not a readable page."""
    try:
        raw = bytes(data) if isinstance(data, bytearray | memoryview) else data
        return _extract_html(raw, source, url, http_content_type)
    except HtmlInputError:
        raise
    except RecursionError as exc:
        raise HtmlInputError(f"markup nested too deeply to process ({source})", "too_complex") from exc
    except MemoryError as exc:
        raise HtmlInputError(f"page too large to process ({source})", "too_complex") from exc


_GIANT_TAG = re.compile(rb"<[^<>]{200000}")


def _extract_html(data: bytes, source: str, url: str | None, http_content_type: str | None) -> HtmlExtraction:
    _check_bytes(data)
    if _GIANT_TAG.search(data):  # libxml2 is quadratic in the attributes of one element
        raise HtmlInputError(f"a single tag of over 200,000 bytes in {source}", "too_complex")
    text, codec, note = decode_html(data, http_content_type)
    _check_text(text)
    warnings: list[str] = []
    root = _parse(text, warnings)
    removed: list[Removed] = []
    if note:
        warnings.append(f"encoding: {note}")
    head = _read_head(root)
    body = root.find("body")
    if body is None:
        body = root
    _preclean(root, body, head, removed, warnings)

    base = url or head.base_href or head.canonical or head.meta("og:url")
    if base and url and head.base_href:
        base = urljoin(url, head.base_href)
    time_els = [t.get("datetime") or _text_of(t) for t in body.iter("time")][:5]

    walker = _Walker(base if base and re.match(r"https?://|//", base) else None, removed)
    walker.owners.append(body)
    walker.text(body.text)
    for child in body:
        walker.walk(child, 1)
    walker.flush()
    segs = walker.segs

    valid, container = _hints_and_container(body, segs, _label_related_blocks(segs))
    if container is None:
        raise HtmlInputError(*_no_article(source, warnings))

    inside = set()
    for el in container.iter():
        inside.add(el)
    start = end = None
    for k, s in enumerate(segs):
        if s.owner in inside:
            s.in_container = True
            start = k if start is None else start
            end = k

    title = _choose_title(head, segs, warnings)
    title_key = _norm_key(title) if title else ""

    # printed metadata in the lines around the article: from a little above its <h1> (date lines may come
    # first) to a few lines after it
    printed = _Printed()
    h1_idx = next((k for k in range(start - 1, max(-1, start - 40), -1) if segs[k].tag == "h1"), None)
    window_start = max(0, (h1_idx if h1_idx is not None else start) - 3)
    window_end = min(len(segs), end + 7)

    def outside(k: int, s: _Seg) -> None:
        hint_ok = s.hint_el is not None and id(s.hint_el) in valid
        if title_key and abs(s.n - len(title_key)) <= 2 and _norm_key(s.text) == title_key:
            reason = "title"
        elif window_start <= k < window_end:
            reason = _line_reason(s, printed, hint_ok) or "outside_article"
        else:
            reason = s.hint if s.hint and hint_ok else ("navigation" if s.ld > 0.5 else "outside_article")
        _record_seg(removed, s, reason)

    # document order: the lines before the article, the article, the lines after it
    for k in range(start):
        outside(k, segs[k])
    blocks, images, _ = _classify(segs[start : end + 1], valid, removed, printed)
    for k in range(start, len(segs)):
        if not segs[k].in_container:
            outside(k, segs[k])
    tables = _finish_tables(blocks, walker.tables)

    blocks, title = _title_block(blocks, title, removed)
    blocks = _drop_summary_duplicate(blocks, removed)
    if not any(b.text.strip() for b in blocks if b.kind is not BlockKind.TABLE) and not tables:
        raise HtmlInputError(*_no_article(source, warnings))

    published = _choose_published(head, printed, time_els, warnings)
    source_name = printed.source
    if source_name is None:
        source_name = _source_element(body, container)
    if source_name is None:
        meta_src = head.meta("source", "article:source", "og:article:source")
        if meta_src:
            source_name = _source_of(meta_src) or meta_src
    author = printed.authors[min(printed.authors)] if printed.authors else None
    if author is None:
        meta_author = head.meta("author", "article:author", "byl")
        if meta_author and not meta_author.isdigit() and len(meta_author) <= 30:
            site_text = " ".join(
                filter(None, [head.meta("og:site_name"), head.meta("copyright"), head.title])
            )
            if meta_author not in _TITLE_SEP_RE.split(head.title or "")[1:] and meta_author not in site_text:
                author = meta_author
    categories = []
    for key in ("article:section", "og:article:section"):
        categories.extend(v for v in head.metas.get(key, ()) if v.strip())
    categories = categories or _breadcrumb(body)
    tags = list(printed.tags)
    for key in ("article:tag", "og:article:tag"):
        tags.extend(t for v in head.metas.get(key, ()) for t in _split_keywords(v, title) if t not in tags)
    tags.extend(t for t in _split_keywords(head.meta("keywords", "news_keywords"), title) if t not in tags)

    return HtmlExtraction(
        title=title,
        published_at=published,
        source_name=source_name,
        author=author,
        categories=categories,
        tags=tags,
        url=url,
        canonical_url=_absolute(url, head.canonical or head.meta("og:url")),
        original_url=printed.original_url,
        blocks=blocks,
        tables=tables,
        images=images,
        removed=removed,
        encoding=codec,
        encoding_note=note,
        warnings=warnings,
    )
