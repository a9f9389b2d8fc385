"""Find gazette issues on listing pages (a government site's 公报 column).

A listing links each issue, either straight to its PDF or to an issue page that links
the PDF, and is paginated by 下一页 / numbered ``index_2.html`` links or by the
``createPageHTML(...)`` script that TRS-built government sites use. ``parse_listing``
reads one page; ``crawl_listing`` walks the pages through a ``Fetcher``, so every URL
passes the fetch policy, and records links that the policy refuses instead of
following them.

A listing page is untrusted input: at most ``MAX_LINKS_PER_PAGE`` links of a page are
read and at most ``MAX_ITEMS_PER_CRAWL`` items queued per crawl (the rest is counted, with
a warning), and the links a page loses (refused by the policy, or past a cap) are recorded
as one ``Refusal`` per page and cause, with a count and a few examples, not one per link.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, deque
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup
from bs4.element import Tag

from pipeline.chinese import NUM, cn_to_int
from pipeline.extract.encoding import decode_html as _decode
from pipeline.fetch import Fetcher, FetchResult
from pipeline.settings import MAX_LISTING_PAGES

log = logging.getLogger(__name__)

# a real 公报 listing page shows tens of issues: a page with more links is hostile or broken
MAX_LINKS_PER_PAGE = 5_000
# decades of a weekly gazette fit; a crawl that finds more items is being fed a hostile listing
MAX_ITEMS_PER_CRAWL = 2_000
REFUSAL_EXAMPLES = 5  # URLs quoted in a page's refusal row: enough to see the pattern
_EXAMPLE_CHARS = 200  # of each quoted URL
# the pseudo-locations of a page's aggregated rows (a fragment: never fetched, never an input)
REFUSED_LINKS = "#refused-links"
LINKS_BEYOND_CAP = "#links-beyond-cap"
ITEMS_BEYOND_CAP = "#items-beyond-cap"

_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "about:", "vbscript:")
_ISSUE_WITH_YEAR = re.compile(rf"(?<!\d)(\d{{4}})\s*(?:年度?\s*第?|第)\s*({NUM})\s*期")
_ISSUE_WORD = re.compile(rf"第\s*{NUM}\s*期")
# link texts that always mean "another page of this list"
_PAGER_WORDS = {
    "下一页", "下页", "后页", "后一页", "上一页", "上页", "前页", "尾页", "末页", "最后一页",
    "next", "nextpage", "prev", "previous", "last", ">", ">>", "»", "›", "<", "<<", "«", "‹",
}  # fmt: skip
# texts that do only when the URL looks like a page of the list (首页 is also "home")
_PAGER_MAYBE = {"首页", "第一页", "first"}
_PAGER_FILE = re.compile(r"^[a-z]+[_-]\d+\.s?html?$", re.IGNORECASE)  # index_2.html
_INDEX_FILE = re.compile(r"^(?:index|default)\.s?html?$", re.IGNORECASE)
_PAGER_QUERY = re.compile(r"(?:^|&)(?:page|pageno|pagenum|pageindex|curpage|p)=\d+", re.IGNORECASE)
_CREATE_PAGE = re.compile(r"createPageHTML\(\s*(\d+)\s*,\s*(\d+)\s*,\s*[\"'](\w+)[\"']\s*,\s*[\"'](\w+)[\"']")
_GENERIC_TEXT = {"下载", "点击下载", "pdf", "pdf下载", "下载pdf", "查看", "详情", "全文", "阅读全文"}


@dataclass(frozen=True, slots=True)
class ListingItem:
    url: str  # the PDF, or an issue page when the listing links no PDF directly
    title: str
    issue_hint: str | None = None  # "2021-29" from "2021年第29期"
    found_on: str | None = None  # the page whose link gave ``url``


@dataclass(slots=True)
class Listing:
    items: list[ListingItem] = field(default_factory=list)
    next_pages: list[str] = field(default_factory=list)  # other pages of the same listing
    links_not_read: int = 0  # links past MAX_LINKS_PER_PAGE


@dataclass(frozen=True, slots=True)
class Refusal:
    """A URL not fetched, or (``count`` > 1) the links one page lost for one cause: then
    ``url`` is the page plus a marker fragment (``REFUSED_LINKS``, ...)."""

    url: str
    reason: str
    found_on: str | None = None
    count: int = 1
    examples: tuple[str, ...] = ()


@dataclass(slots=True)
class Crawl:
    items: list[ListingItem] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    errors: list[FetchResult] = field(default_factory=list)  # pages that could not be fetched
    pages: list[FetchResult] = field(default_factory=list)  # every page fetched, listing and issue
    warnings: list[str] = field(default_factory=list)  # caps that cut the crawl short

    def warn(self, text: str) -> None:
        log.warning(text)
        self.warnings.append(text)


@dataclass(slots=True)
class _PageLosses:
    """The links one page loses, tallied as they come; ``record`` turns them into rows."""

    page: str
    refused: Counter = field(default_factory=Counter)  # the kind of reason -> links
    refused_examples: list[str] = field(default_factory=list)
    over_cap: int = 0
    over_cap_examples: list[str] = field(default_factory=list)

    def refuse(self, url: str, reason: str) -> None:
        self.refused[reason.split(":", 1)[0]] += 1
        if len(self.refused_examples) < REFUSAL_EXAMPLES:
            self.refused_examples.append(f"{url[:_EXAMPLE_CHARS]} ({reason[:_EXAMPLE_CHARS]})")

    def drop(self, url: str) -> None:
        self.over_cap += 1
        if len(self.over_cap_examples) < REFUSAL_EXAMPLES:
            self.over_cap_examples.append(url[:_EXAMPLE_CHARS])

    def record(self, crawl: Crawl, links_not_read: int, max_links: int, max_items: int) -> None:
        if self.refused:
            n = sum(self.refused.values())
            kinds = ", ".join(f"{kind} ({count})" for kind, count in self.refused.most_common())
            crawl.refused.append(Refusal(self.page + REFUSED_LINKS, f"{n} links refused: {kinds}; e.g. "
                                         + ", ".join(self.refused_examples), self.page, n, tuple(self.refused_examples)))
        if links_not_read:
            text = f"{links_not_read} links not read: a page is read up to {max_links} links"
            crawl.warn(f"{self.page}: {text}")
            crawl.refused.append(Refusal(self.page + LINKS_BEYOND_CAP, text, self.page, links_not_read))
        if self.over_cap:
            text = f"{self.over_cap} items not queued: a crawl queues up to {max_items} items"
            crawl.warn(f"{self.page}: {text}")
            crawl.refused.append(Refusal(self.page + ITEMS_BEYOND_CAP, f"{text}; e.g. " + ", ".join(self.over_cap_examples),
                                         self.page, self.over_cap, tuple(self.over_cap_examples)))


# -- text helpers ----------------------------------------------------------------------


def decode_html(data: bytes, content_type: str | None = None) -> str:
    """Bytes to text, by the one decoder every HTML input goes through."""
    return _decode(data, content_type)[0]


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def issue_hint(text: str) -> str | None:
    """``2021年第29期`` -> ``2021-29`` (also 2021年29期, 2021第二十九期); None without a year."""
    match = _ISSUE_WITH_YEAR.search(text or "")
    if not match:
        return None
    number = cn_to_int(match.group(2))
    return f"{match.group(1)}-{number}" if number else None


def is_pdf_url(url: str) -> bool:
    try:
        return urlsplit(url).path.lower().endswith(".pdf")
    except ValueError:
        return False


# -- one page --------------------------------------------------------------------------


def parse_listing(html: bytes | str, base_url: str, content_type: str | None = None,
                  max_links: int = MAX_LINKS_PER_PAGE) -> Listing:
    """Issue links and pagination links of one listing (or issue) page.

    An item is a link to a PDF, or a link whose text names an issue (第N期). Relative
    links are resolved (honouring <base href>), fragments dropped, duplicates merged.
    Only the first ``max_links`` links are read; the rest are counted (``links_not_read``).
    """
    text = decode_html(html, content_type) if isinstance(html, bytes) else html
    if not text.strip():
        return Listing()
    # beautifulsoup4 with Python's own parser: a listing is a few KB and is fetched over the
    # network, so its parse time does not matter, and it reads a page as a browser does (what
    # follows </html>, an XML declaration) where libxml2 needs work-arounds (README: Design)
    root = BeautifulSoup(text, "html.parser")
    base = _base_href(root, base_url)
    items: dict[str, ListingItem] = {}
    pages: dict[str, None] = {}
    links = root.find_all(["a", "link"])
    for link in links[:max_links]:
        url = _resolve(link.get("href"), base)
        if url is None:
            continue
        text = _clean(link.get_text()) if link.name == "a" else ""
        if _is_pager(link, text, url, base):
            pages[url] = None
        elif link.name == "a":
            item = _as_item(link, text, url, base_url)
            if item is not None:
                items[url] = _better(items.get(url), item)
    for url in _script_pages(root, base):
        pages[url] = None
    pages.pop(urldefrag(base_url)[0], None)
    return Listing(items=list(items.values()), next_pages=list(pages), links_not_read=max(0, len(links) - max_links))


def _base_href(root: BeautifulSoup, base_url: str) -> str:
    for base in root.find_all("base"):
        href = base.get("href")
        if href and href.strip():
            return urljoin(base_url, href.strip())
    return base_url


def _resolve(href: str | None, base: str) -> str | None:
    if not href:
        return None
    href = re.sub(r"[\t\r\n]", "", href).strip()  # browsers drop these inside URLs
    if not href or href.startswith("#") or href.lower().startswith(_SKIP_SCHEMES):
        return None
    try:
        return urldefrag(urljoin(base, href))[0]
    except ValueError:
        return None


def _is_pager(link: Tag, text: str, url: str, base: str) -> bool:
    rel = link.get("rel") or []  # a list: rel is a multi-valued attribute
    if "next" in [r.lower() for r in ([rel] if isinstance(rel, str) else rel)]:
        return True
    if link.name != "a":
        return False
    word = text.lower().replace(" ", "")
    if word in _PAGER_WORDS or word.startswith("下一页"):
        return True
    if word in _PAGER_MAYBE or (text.isdigit() and len(text) <= 4):
        return _looks_like_page_url(url, base)
    return False


def _looks_like_page_url(url: str, base: str) -> bool:
    """index_2.html, list.jsp?page=2, or the index.html beside the current page."""
    parts = urlsplit(url)
    folder, _, name = parts.path.rpartition("/")
    if _PAGER_FILE.match(name) or _PAGER_QUERY.search(parts.query):
        return True
    here = urlsplit(base)
    return bool(_INDEX_FILE.match(name)) and (parts.netloc, folder) == (
        here.netloc,
        here.path.rpartition("/")[0],
    )


def _as_item(link: Tag, text: str, url: str, found_on: str) -> ListingItem | None:
    title_attr = _clean(link.get("title"))
    title = title_attr if title_attr and (not text or text.endswith(("...", "…"))) else text
    label = f"{text} {title_attr}"
    if not (is_pdf_url(url) or _ISSUE_WORD.search(label) or _ISSUE_WITH_YEAR.search(label)):
        return None
    hint = issue_hint(title) or issue_hint(title_attr)
    if hint is None and (not title or title.lower() in _GENERIC_TEXT):
        # "<li>2021年第29期 <a href=x.pdf>下载</a></li>": the issue is named beside the link
        context = _context_text(link)
        if issue_hint(context):
            title, hint = context, issue_hint(context)
    return ListingItem(url=url, title=title, issue_hint=hint, found_on=found_on)


def _context_text(link: Tag) -> str:
    parent = link.find_parent(["li", "tr", "dd", "p"])
    if parent is None:
        return ""
    text, own = _clean(parent.get_text()), _clean(link.get_text())
    return _clean(text.replace(own, " ")) if own else text


def _better(old: ListingItem | None, new: ListingItem) -> ListingItem:
    """Of two links to one URL (an icon and a text link, say), keep the more telling."""
    if old is None:
        return new
    if (new.issue_hint and not old.issue_hint) or (not old.title and new.title):
        return new
    return old


def _script_pages(root: BeautifulSoup, base: str) -> list[str]:
    """Pages named by ``createPageHTML(count, current, "index", "html")``: index.html,
    index_1.html ... index_{count-1}.html."""
    pages = []
    for script in root.find_all("script"):
        for match in _CREATE_PAGE.finditer(script.get_text()):
            count, prefix, suffix = int(match.group(1)), match.group(3), match.group(4)
            for n in range(min(count, MAX_LISTING_PAGES)):
                name = f"{prefix}.{suffix}" if n == 0 else f"{prefix}_{n}.{suffix}"
                pages.append(urljoin(base, name))
    return pages


# -- crawling --------------------------------------------------------------------------


def crawl_listing(
    fetcher: Fetcher,
    index_url: str,
    max_pages: int = 20,
    *,
    follow_items: bool = True,
    max_item_pages: int = 200,
    max_items: int = MAX_ITEMS_PER_CRAWL,
    max_links: int = MAX_LINKS_PER_PAGE,
) -> Crawl:
    """Walk a listing's pages (at most ``max_pages``) and collect its issues (at most
    ``max_items``; ``max_links`` links read per page).

    With ``follow_items``, an item that is not a PDF link is fetched once (at most
    ``max_item_pages`` of them) and replaced by the PDFs its page links, if any.
    Nothing here downloads the PDFs themselves: that is the caller's ``fetcher.fetch``.
    Pages are fetched with the fetcher's ``page_max_seconds`` deadline.
    """
    crawl = Crawl()
    found: dict[str, ListingItem] = {}
    queue, queued = deque([index_url]), {index_url}
    while queue and len(crawl.pages) + len(crawl.errors) < max_pages:
        page_url = queue.popleft()
        _, listing = _fetch_page(fetcher, page_url, None, crawl, max_links)
        if listing is None:
            continue
        losses = _PageLosses(page_url)
        for url in listing.next_pages:
            if url not in queued:
                queued.add(url)
                if _allowed(fetcher, url, losses):
                    queue.append(url)
        for item in listing.items:
            if item.url in found or not _allowed(fetcher, item.url, losses):
                continue
            if len(found) < max_items:
                found[item.url] = item
            else:
                losses.drop(item.url)
        losses.record(crawl, listing.links_not_read, max_links, max_items)
    items = list(found.values())
    if follow_items:
        items = _follow_items(fetcher, items, max_item_pages, crawl, max_items, max_links)
    crawl.items = items
    return crawl


def _allowed(fetcher: Fetcher, url: str, losses: _PageLosses) -> bool:
    reason = fetcher.check(url)
    if reason is not None:
        losses.refuse(url, reason)
    return reason is None


def _fetch_page(
    fetcher: Fetcher, url: str, found_on: str | None, crawl: Crawl, max_links: int
) -> tuple[FetchResult, Listing | None]:
    """Fetch and parse one page, recording the outcome in ``crawl``. The listing is None
    when the fetch failed or was refused, or the page is not HTML (a PDF, say)."""
    result = fetcher.fetch(url, max_seconds=fetcher.settings.page_max_seconds)
    if result.refused is not None:
        crawl.refused.append(Refusal(url, result.refused, found_on))
        return result, None
    if not result.ok or result.path is None or result.sha256 is None:
        crawl.errors.append(result)
        return result, None
    crawl.pages.append(result)
    if result.path.suffix != ".html":
        return result, None
    data = fetcher.store.read(result.sha256)
    return result, parse_listing(data, result.final_url or url, result.content_type, max_links)


def _follow_items(fetcher: Fetcher, items: list[ListingItem], budget: int, crawl: Crawl, max_items: int,
                  max_links: int) -> list[ListingItem]:
    out: dict[str, ListingItem] = {}
    for item in items:
        if is_pdf_url(item.url) or budget <= 0:
            out.setdefault(item.url, item)
            continue
        budget -= 1
        result, page = _fetch_page(fetcher, item.url, item.found_on, crawl, max_links)
        if result.refused is not None:
            continue  # e.g. it redirected off the allowed hosts
        pdfs = [i for i in page.items if is_pdf_url(i.url)] if page else []
        if not pdfs:
            out.setdefault(item.url, item)  # a PDF itself, an HTML-only issue, or unreachable
        losses = _PageLosses(item.url)
        for pdf in pdfs:
            if pdf.url in out or not _allowed(fetcher, pdf.url, losses):
                continue
            if len(out) >= max_items:
                losses.drop(pdf.url)
                continue
            hint = item.issue_hint or pdf.issue_hint
            out[pdf.url] = ListingItem(pdf.url, item.title or pdf.title, hint, found_on=item.url)
        losses.record(crawl, page.links_not_read if page else 0, max_links, max_items)
    return list(out.values())
