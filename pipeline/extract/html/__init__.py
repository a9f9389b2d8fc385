"""HTML input stage: one web page (bytes) in, one ``Draft`` out (the document with its metadata, tables and
images; the body blocks; the lines taken out).

The chain, one module per step (what goes in → what comes out):

1. ``guard``      bytes → raises ``HtmlInputError`` for empty input, known binary formats (PDF, images,
                          archives, gzip …) and giant tags; after decoding (``encoding.decode_html``, the only
                          decoder), for binary garbage, JSON and text without HTML markup
2. ``tree``       text  → lxml tree (C0 controls and stray ``</html>``/``</body>`` removed first: libxml2 stops
                          reading at a mid-page ``</html>``); its ``Head`` (<title>, <meta>, <link
                          rel=canonical>, JSON-LD, read from the whole document: broken markup can push head
                          elements into <body>); then without scripts, styles, comments, forms, embeds, hidden
                          elements and head content spilled into <body> by an unescaped attribute (every dropped
                          text goes to ``removed``)
3. ``walk``       body  → ``Seg`` list: one segment per block of text in document order, with link/bold
                          character counts, images, data tables and the furniture hint of the nearest class/id
4. ``container``  segs  → the element holding the article (segment values summed bottom-up; hints believed
                          unless that leaves no real prose)
5. ``lines``      segs  → blocks / removed / images / tables for the segments inside the container; metadata
                          lines (date, 来源, byline, tags, original link) and boilerplate lines are dropped with
                          a reason; lines just around the container are read for metadata too
6. ``meta``       head, printed lines, markup → title, published_at, source, author, categories, tags,
                          canonical and original URLs

``vocab`` holds the site vocabulary all of them read (word lists, class names, patterns of particular kinds of
page), each entry with the page it comes from; ``text`` the whitespace and character helpers.

Images are kept as ``Image`` references (absolute ``src`` when a base URL is known: the ``url`` argument,
<base href>, the canonical link or og:url); icons, arrows/logos and stock-quote charts are not images of the
article.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin

from pipeline.extract.encoding import decode_html
from pipeline.extract.html import container, guard, lines, meta, tree
from pipeline.extract.html.guard import HtmlInputError
from pipeline.extract.html.meta import CST, TZ_ASSUMED_WARNING, DatedValue, Printed, parse_datetime
from pipeline.extract.html.text import clean_text
from pipeline.extract.html.vocab import META_URL_KEY
from pipeline.extract.html.walk import Seg, Walker
from pipeline.model import BlockKind, Document, Draft, Removed

__all__ = [
    "CST",
    "TZ_ASSUMED_WARNING",
    "Fragment",
    "HtmlInputError",
    "clean_text",
    "extract_fragment",
    "extract_html",
    "parse_datetime",
]

_WEB_URL_RE = re.compile(r"https?://|//")  # images are made absolute only against a web address


@dataclass
class Fragment:
    """What ``extract_fragment`` found in a piece of article HTML (every segment counts as article): a draft
    whose document holds what the fragment's printed lines say (source, author, tags, original link, tables,
    images), and the dates printed in it (the caller knows which one to believe)."""

    draft: Draft
    dates: list[DatedValue]


# ------------------------------------------------------------------------------------------------ fragment


def extract_fragment(
    html: str, removed: list[Removed], warnings: list[str], *, base_url: str | None = None
) -> Fragment:
    """Blocks of an HTML fragment that *is* the article (e.g. a post body): the same cleaning, walking and
    line classification as ``extract_html``, without looking for the main-content container."""
    root = tree.parse(f"<html><head></head><body>{html}</body></html>")
    body = tree.body_of(root)
    tree.preclean(root, body, tree.Head(), removed, warnings)
    walker = Walker(base_url, removed)
    segs = walker.walk_body(body)
    valid = container.valid_hints(segs, container.label_related_blocks(segs))
    printed = Printed()
    blocks, images = lines.classify(segs, valid, removed, printed)
    tables = lines.finish_tables(blocks)
    blocks = lines.drop_summary_duplicate(blocks, removed)
    doc = Document(kind="html", source_name=printed.source, author=printed.author(), tags=printed.tags,
                   original_url=printed.original_url, tables=tables, images=images, warnings=warnings)
    return Fragment(Draft(doc, blocks, removed=removed), printed.dates)


# ------------------------------------------------------------------------------------------------ page


def extract_html(
    data: bytes, *, source: str, url: str | None = None, http_content_type: str | None = None
) -> Draft:
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


@dataclass
class _Page:
    """A parsed, pre-cleaned page: what every later step reads."""

    root: object
    body: object
    head: tree.Head
    codec: str
    note: str | None
    removed: list[Removed] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _extract_html(data: bytes, source: str, url: str | None, http_content_type: str | None) -> Draft:
    page = _read_page(data, source, http_content_type)
    walker = Walker(_image_base(url, page.head), page.removed)
    segs = walker.walk_body(page.body)
    valid, article = container.hints_and_container(page.body, segs, container.label_related_blocks(segs))
    if article is None:
        raise HtmlInputError(*_no_article(source, page.warnings))
    span = _mark_container(segs, article)

    title = meta.choose_title(page.head, segs, page.warnings)
    printed = Printed()
    blocks, images = lines.classify_page(segs, span, valid, title, page.removed, printed)
    tables = lines.finish_tables(blocks)
    blocks, title = lines.title_block(blocks, title, page.removed)
    blocks = lines.drop_summary_duplicate(blocks, page.removed)
    if not any(b.text.strip() for b in blocks if b.kind is not BlockKind.TABLE) and not tables:
        raise HtmlInputError(*_no_article(source, page.warnings))

    head = page.head
    doc = Document(
        kind="html",
        source=source,
        title=title,
        published_at=meta.choose_published(head, printed, meta.time_values(page.body), page.warnings),
        source_name=meta.choose_source(head, printed, page.body),
        author=meta.choose_author(head, printed),
        categories=meta.choose_categories(head, page.body),
        tags=meta.choose_tags(head, printed, title),
        url=url,
        canonical_url=_absolute(url, head.canonical or head.meta(META_URL_KEY)),
        original_url=printed.original_url,
        encoding=page.codec,
        tables=tables,
        images=images,
        warnings=page.warnings,
    )
    return Draft(doc, blocks, removed=page.removed)


def _read_page(data: bytes, source: str, http_content_type: str | None) -> _Page:
    """Guard, decode, parse, read the head, pre-clean."""
    guard.check_bytes(data)
    guard.check_giant_tag(data, source)
    text, codec, note = decode_html(data, http_content_type)
    guard.check_text(text)
    warnings: list[str] = []
    root = tree.parse(text, warnings)
    if note:
        warnings.append(f"encoding: {note}")
    page = _Page(root, tree.body_of(root), tree.read_head(root), codec, note, warnings=warnings)
    tree.preclean(page.root, page.body, page.head, page.removed, page.warnings)
    return page


def _image_base(url: str | None, head: tree.Head) -> str | None:
    """The address image sources are resolved against: the page's URL (with its <base href>), else <base
    href>, the canonical link or og:url; None when that is not a web address."""
    base = url or head.base_href or head.canonical or head.meta(META_URL_KEY)
    if base and url and head.base_href:
        base = urljoin(url, head.base_href)
    return base if base and _WEB_URL_RE.match(base) else None


def _mark_container(segs: list[Seg], article) -> tuple[int, int]:
    """Mark the segments inside the container; ``(first, last)`` index of them."""
    inside = set(article.iter())
    start = end = None
    for k, s in enumerate(segs):
        if s.owner in inside:
            s.in_container = True
            start = k if start is None else start
            end = k
    return start, end


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
