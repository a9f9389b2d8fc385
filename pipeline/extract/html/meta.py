"""Metadata of a page: dates (``parse_datetime``), what the page prints (``Printed``: 来源, 作者, dates, tags,
original link), and the choices among head, printed text and markup: title (the longest of og:title /
twitter:title / JSON-LD headline / <h1> that prefixes <title>, else <title> minus its site suffix),
published_at (meta with time > printed with time > <time> > date-only; +08:00 assumed with a warning), source,
author, categories (article:section or breadcrumb), tags (article:tag, keywords, tags line)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import lxml.etree

from pipeline.extract.html.text import SENTENCE_PUNCT_RE, clean_text, norm_key, text_of
from pipeline.extract.html.tree import Head
from pipeline.extract.html.vocab import (
    AUTHOR_PATTERNS,
    CRUMB_CLASS_WORDS,
    EDITOR_CODE_RE,
    HOME_LINK_RE,
    JSONLD_DATE_KEYS,
    JSONLD_HEADLINE_KEY,
    META_APPLICATION_NAME_KEY,
    META_AUTHOR_KEYS,
    META_COPYRIGHT_KEY,
    META_DATE_KEYS,
    META_KEYWORDS_KEYS,
    META_SECTION_KEYS,
    META_SITE_NAME_KEY,
    META_SOURCE_KEYS,
    META_TAG_KEYS,
    META_TITLE_KEYS,
    NOT_SOURCE_CLASS_RE,
    ORG_NAME_RE,
    SITE_WORD_RE,
    SOURCE_CLASS_WORD,
    SOURCE_LABEL_PREFIX_RE,
    SOURCE_RE,
    TITLE_SEP_RE,
)
from pipeline.extract.html.walk import Seg

CST = timezone(timedelta(hours=8), "CST")
TZ_ASSUMED_WARNING = "no timezone given for the publish time; assumed +08:00 (China Standard Time)"

DATE_SCAN_CHARS = 2000  # parse_datetime reads this much of a text: a date is near the start of its line
MAX_UTC_OFFSET_HOURS = 14  # the largest offset in use (UTC+14, Kiribati); a larger "offset" is not one
TIME_ELEMENTS_READ = 5  # <time> elements read for the publish date: the article's own come first
# title
TITLE_H1_MAX_CHARS = 200  # a longer <h1> is not a title (a whole paragraph marked up as h1)
TITLE_MAX_H1S = 5  # <h1> candidates read
SITE_SUFFIX_MAX_ROUNDS = 5  # ``标题_频道_站点_…``: at most this many trailing segments are stripped
SITE_SUFFIX_SHORT_CHARS = 12  # a trailing segment this short is a site/channel name
SITE_NAME_MAX_CHARS = 30  # ... or one up to this long with a site word (网, 频道, 新闻 …)
# names
KEYWORD_MAX_CHARS = 40  # a longer "keyword" is a sentence pasted into the keywords meta
SOURCE_NAME_MIN_CHARS = 2  # a source element's text is a name of 2..30 characters
SOURCE_NAME_MAX_CHARS = 30
META_AUTHOR_MAX_CHARS = 30  # a longer author meta is a description, not a name
CRUMB_MAX_CHARS = 20  # a breadcrumb link longer than this is an article title, not a category
CRUMB_MAX_ITEMS = 5

_DT_RE = re.compile(
    r"(?P<y>(?:19|20)\d{2})\s*[-/.年]\s*(?P<mo>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:(?:\s*|[T-]|\s*[,，]\s*)(?P<h>\d{1,2})\s*[:：时]\s*(?P<mi>\d{2})(?:\s*[:：分]\s*(?P<s>\d{2})(?:\.\d+)?)?\s*秒?)?"
    r"(?:\s*(?P<tz>Z(?![A-Za-z])|[+-]\d{2}:?\d{2}(?!\d)|(?:GMT|UTC)\s*[+-]\s*\d{1,2}(?::?\d{2})?))?"
)
_TZ_NEAR_RE = re.compile(r"(?:GMT|UTC)\s*(?P<sign>[+-])\s*(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?")
_TZ_OFFSET_RE = re.compile(r"(?P<sign>[+-])\s*(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?$")
# a date as printed, for cutting it out of a line: ``2019-09-26 10:56:28``, ``2022年05月26日 14:18``
_DATE_TEXT_RE = re.compile(
    r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?(?:\s*\d{1,2}:\d{2}(?::\d{2})?)?"
)
_DATE_LINE_SPLIT_RE = re.compile(r"[\s|｜/·]+")
_NAME_TRIM = " ：:，,。"
_KEYWORD_SPLIT_RE = re.compile(r"[,，;；|｜、]\s*")

# Elements whose class or id holds a word; ``[@class or @id]`` first: most elements have neither,
# and the string tests then run on the few that do (a third of the time on a news page).
_SOURCE_EL_XPATH = lxml.etree.XPath(
    f".//*[@class or @id][contains(@class,'{SOURCE_CLASS_WORD}') or contains(@id,'{SOURCE_CLASS_WORD}')]"
)
_CRUMB_XPATH = lxml.etree.XPath(
    ".//*[@class or @id][" + " or ".join(f"contains(@class,'{w}') or contains(@id,'{w}')" for w in CRUMB_CLASS_WORDS) + "]"
)

DatedValue = tuple[datetime, bool, bool]  # (datetime, has_time, has_tz)


# ------------------------------------------------------------------------------------------------ dates


def parse_datetime(text: str, *, default_tz: timezone | None = None) -> tuple[datetime | None, bool, bool]:
    """First date(-time) printed in ``text``: ``(datetime, has_time, has_tz)``; tz-naive results get
    ``default_tz`` when given. Understands ISO 8601, ``2022-05-26 14:18[:58] [+0800]``, ``2022/5/26``,
    ``2022年5月26日 14:18``, ``2007-08-20-23:59:59`` and a ``GMT+8``/``UTC+8`` marker anywhere nearby."""
    if not text or len(text) > DATE_SCAN_CHARS:
        text = (text or "")[:DATE_SCAN_CHARS]
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
    m = _TZ_OFFSET_RE.search(s)
    if not m:
        return None
    h, mi = int(m["h"]), int(m["m"] or 0)
    if h > MAX_UTC_OFFSET_HOURS or mi >= 60:
        return None
    delta = timedelta(hours=h, minutes=mi)
    return timezone(-delta if m["sign"] == "-" else delta)


def time_values(body) -> list[str]:
    """``datetime`` attribute (else text) of the first <time> elements."""
    return [t.get("datetime") or text_of(t) for t in body.iter("time")][:TIME_ELEMENTS_READ]


# ------------------------------------------------------------------------------------------------ printed


@dataclass
class Printed:
    """Metadata printed in the page text."""

    source: str | None = None
    authors: dict[int, str] = field(default_factory=dict)  # priority → name
    dates: list[DatedValue] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    original_url: str | None = None

    def author(self) -> str | None:
        """The printed author of the best priority (作者 before 记者 before 编辑)."""
        return self.authors[min(self.authors)] if self.authors else None


def author_of(text: str) -> tuple[int, str] | None:
    """``(priority, name)`` of the first ``vocab.AUTHOR_PATTERNS`` entry that finds a name in ``text``."""
    for prio, rx in enumerate(AUTHOR_PATTERNS):
        m = rx.search(text)
        if m:
            v = EDITOR_CODE_RE.sub("", m["v"].strip(_NAME_TRIM))
            if v:
                return prio, v
    return None


def source_of(text: str) -> str | None:
    """The name after a 来源 label in ``text``."""
    m = SOURCE_RE.search(text)
    if not m:
        return None
    v = m["v"].strip(_NAME_TRIM)
    return v or None


def unlabelled_source(date_line: str) -> str | None:
    """A news organisation's name printed beside the date with no 来源 label: what is left
    of the line, when that has the shape of one (…网, …报, …社, …频道)."""
    rest = [t for t in _DATE_LINE_SPLIT_RE.split(_DATE_TEXT_RE.sub(" ", date_line)) if t]
    return rest[0] if len(rest) == 1 and ORG_NAME_RE.fullmatch(rest[0]) else None


# ------------------------------------------------------------------------------------------------ title


def strip_site_suffix(title: str) -> str:
    """``债券市场…这么说_新浪财经_新浪网`` → ``债券市场…这么说``: trailing segments after a separator are
    removed while they are short (≤ 12 characters) or look like a site/channel name."""
    t = title.strip()
    for _ in range(SITE_SUFFIX_MAX_ROUNDS):
        parts = list(TITLE_SEP_RE.finditer(t))
        if not parts:
            break
        last = parts[-1]
        tail = t[last.end() :]
        front = t[: last.start()]
        if not front.strip():
            t = tail
            continue
        if (
            len(tail) <= SITE_SUFFIX_SHORT_CHARS
            or SITE_WORD_RE.search(tail)
            and len(tail) <= SITE_NAME_MAX_CHARS
        ):
            t = front
        else:
            break
    return t.strip()


def _site_names(head: Head) -> set[str]:
    """Keys of the site's own names: og:site_name, application-name, the last <title> segment."""
    site_names = {
        norm_key(v) for v in (head.meta(META_SITE_NAME_KEY), head.meta(META_APPLICATION_NAME_KEY)) if v
    }
    raw = head.title or ""
    if raw:
        parts = TITLE_SEP_RE.split(raw)
        if len(parts) > 1 and parts[-1].strip():
            site_names.add(norm_key(parts[-1]))
    site_names.discard("")
    return site_names


def _title_candidates(head: Head, h1s: list[str]) -> list[str]:
    """og:title / twitter:title, JSON-LD headlines, then the <h1> texts."""
    cands: list[str] = []
    for key in META_TITLE_KEYS:
        for v in head.metas.get(key, ()):
            v = clean_text(v)
            if v:
                cands.append(v)
    for d in head.jsonld:
        h = d.get(JSONLD_HEADLINE_KEY)
        if isinstance(h, str) and clean_text(h):
            cands.append(clean_text(h))
    cands.extend(h1s)
    return cands


def choose_title(head: Head, segs: list[Seg], warnings: list[str]) -> str | None:
    """The article's title (see the module docstring); a warning when there is none."""
    site_names = _site_names(head)
    raw = head.title or ""
    h1s = [s.text for s in segs if s.tag == "h1" and s.n and s.n <= TITLE_H1_MAX_CHARS][:TITLE_MAX_H1S]
    cands = [c for c in _title_candidates(head, h1s) if norm_key(c) not in site_names]
    key = norm_key(raw)
    consistent = [c for c in cands if key and key.startswith(norm_key(c))]
    if consistent:
        return max(consistent, key=lambda c: len(norm_key(c)))
    if h1s and [h for h in h1s if norm_key(h) not in site_names]:
        return [h for h in h1s if norm_key(h) not in site_names][0]
    if cands:
        return cands[0]
    stripped = strip_site_suffix(raw) if raw else ""
    if stripped and norm_key(stripped) not in site_names:
        return stripped
    warnings.append("no title found (no <title>, og:title or <h1> with text)")
    return None


# ------------------------------------------------------------------------------------------------ published


def _meta_datetime(head: Head) -> DatedValue | None:
    for key in META_DATE_KEYS:
        for v in head.metas.get(key, ()):
            dt, has_time, has_tz = parse_datetime(v)
            if dt is not None:
                return dt, has_time, has_tz
    for d in head.jsonld:
        v = next((d.get(k) for k in JSONLD_DATE_KEYS if d.get(k)), None)
        if isinstance(v, str):
            dt, has_time, has_tz = parse_datetime(v)
            if dt is not None:
                return dt, has_time, has_tz
    return None


def choose_published(
    head: Head, printed: Printed, time_els: list[str], warnings: list[str]
) -> datetime | None:
    """The publish time: meta with time > printed with time > <time> with time > the same without a time;
    +08:00 assumed (with a warning) when none of them gives a zone."""
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


# ------------------------------------------------------------------------------------------------ names


def source_element(body) -> str | None:
    """Text of a small element whose class/id names it a source (``<span class="source">新浪财经</span>``)."""
    for el in _SOURCE_EL_XPATH(body):
        names = f"{el.get('class', '')} {el.get('id', '')}".lower()
        if NOT_SOURCE_CLASS_RE.search(names):
            continue  # a "source" pop-up or button, not the article's source line
        text = SOURCE_LABEL_PREFIX_RE.sub("", clean_text(text_of(el)))
        if (
            SOURCE_NAME_MIN_CHARS <= len(text) <= SOURCE_NAME_MAX_CHARS
            and not SENTENCE_PUNCT_RE.search(text)
            and parse_datetime(text)[0] is None
        ):
            return text
    return None


def choose_source(head: Head, printed: Printed, body) -> str | None:
    """Printed 来源 > a source element > the source meta."""
    if printed.source is not None:
        return printed.source
    found = source_element(body)
    if found is not None:
        return found
    meta_src = head.meta(*META_SOURCE_KEYS)
    if meta_src:
        return source_of(meta_src) or meta_src
    return None


def choose_author(head: Head, printed: Printed) -> str | None:
    """The printed author, else the author meta when it is a name and not the site's (some sites put their
    own name there)."""
    author = printed.author()
    if author is not None:
        return author
    meta_author = head.meta(*META_AUTHOR_KEYS)
    if meta_author and not meta_author.isdigit() and len(meta_author) <= META_AUTHOR_MAX_CHARS:
        site_text = " ".join(
            filter(None, [head.meta(META_SITE_NAME_KEY), head.meta(META_COPYRIGHT_KEY), head.title])
        )
        if meta_author not in TITLE_SEP_RE.split(head.title or "")[1:] and meta_author not in site_text:
            return meta_author
    return None


def breadcrumb(body) -> list[str]:
    """Link texts of a breadcrumb trail (class/id crumb, position, location), without the home link."""
    for el in _CRUMB_XPATH(body):
        names = [clean_text(text_of(a)) for a in el.iter("a")]
        names = [n for n in names if n and len(n) <= CRUMB_MAX_CHARS and not HOME_LINK_RE.search(n)]
        if names:
            return names[:CRUMB_MAX_ITEMS]
    return []


def choose_categories(head: Head, body) -> list[str]:
    """article:section metas, else the breadcrumb."""
    categories = []
    for key in META_SECTION_KEYS:
        categories.extend(v for v in head.metas.get(key, ()) if v.strip())
    return categories or breadcrumb(body)


def split_keywords(v: str | None, title: str | None) -> list[str]:
    """Keywords of a keywords/tag meta, in order, without repeats; a meta that only repeats the title is none."""
    if not v or (title and norm_key(v) == norm_key(title)):
        return []
    out = []
    for t in _KEYWORD_SPLIT_RE.split(v):
        t = t.strip()
        if t and t not in out and len(t) <= KEYWORD_MAX_CHARS:
            out.append(t)
    return out


def choose_tags(head: Head, printed: Printed, title: str | None) -> list[str]:
    """Printed tags line, then article:tag metas, then keywords, without repeats."""
    tags = list(printed.tags)
    for key in META_TAG_KEYS:
        tags.extend(t for v in head.metas.get(key, ()) for t in split_keywords(v, title) if t not in tags)
    tags.extend(t for t in split_keywords(head.meta(*META_KEYWORDS_KEYS), title) if t not in tags)
    return tags
