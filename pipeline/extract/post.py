"""Front-matter posts (Jekyll ``_posts/*.md``, like seed 000 and the finews corpus) → ``Draft`` (as a web page).

A post is YAML front matter between ``---`` lines, then a body that is plain Markdown text or raw HTML, then a
footer. The chain:

1. ``split_front_matter``  text → front matter dict (all values strings / lists of strings), body, warnings.
   A blank line before the opening ``---`` (Jekyll would then not read the front matter) is tolerated with a
   warning; YAML that does not parse falls back to ``key: value`` lines, and so does YAML with anchors or
   aliases (``&a`` / ``*a``: a 2 KB alias bomb expands to gigabytes) or more than
   ``MAX_FRONT_MATTER_NODES`` nodes. The fields read (``FIELD_SHAPES``) take one value or a list of values;
   a list where one value belongs is joined, anything nested is dropped, each with a warning.
2. ``_split_footer``       body → body without footer; the original-article ``<url>`` line fills
   ``original_url`` (an empty ``<>`` gives a warning); ``[返回…](…)`` links, on one line joined by ``｜`` or
   on separate lines, go to ``removed`` as ``back_link``.
3. ``_split_summary``      body → a leading Markdown ``> summary`` line, kept only when the body does not
   repeat it (otherwise ``removed`` as ``summary_duplicate``).
4. ``markdown_to_html``    the kramdown subset the posts use: blank-line separated blocks, raw HTML blocks
   passed through, others become ``<p>`` with ``[text](url)`` / ``<url>`` links.
5. ``extract_fragment``    (html/) the same line classification as for web pages: hidden paragraphs, stock
   charts, the ``（文章来源：…）`` source line (→ ``source_name``, ``removed`` as ``source_line``), images with
   their centred captions, ``<strong>``-only headings.

Dates: ``2022-05-26 14:18:58 +0800`` keeps its offset; without one, +08:00 is assumed with a warning (the
site's ``_config.yml`` says Asia/Shanghai); an empty date (``date:  +0800``) gives ``published_at=None`` and a
warning. ``categories`` / ``tags`` are split on whitespace, as Jekyll does.
"""

from __future__ import annotations

import html as html_lib
import re

import yaml

from pipeline.extract.encoding import decode_html
from pipeline.extract.html import (
    CST,
    TZ_ASSUMED_WARNING,
    HtmlInputError,
    clean_text,
    extract_fragment,
    parse_datetime,
)
from pipeline.extract.html.guard import check_binary, check_bytes
from pipeline.model import Block, BlockKind, Document, Draft, Removed

__all__ = ["extract_post", "split_front_matter", "markdown_to_html"]

_FM_RE = re.compile(r"\A(?P<lead>\s*)---[ \t]*\n(?P<fm>.*?)\n?---[ \t]*(?:\n|\Z)(?P<body>.*)\Z", re.S)
_AUTOLINK_LINE_RE = re.compile(r"^<(?P<url>[^<>\s]*)>$")
_MD_LINK_RE = re.compile(r"\[(?P<text>[^\]]*)\]\((?P<url>[^)\s]*)\)")
_INLINE_RE = re.compile(r"\[(?P<text>[^\]]*)\]\((?P<url>[^)\s]*)\)|<(?P<auto>(?:https?:)?//[^<>\s]*)>")
_HTML_BLOCK_RE = re.compile(r"\A\s*<(?:[a-zA-Z][a-zA-Z0-9]*[\s/>]|!--|/[a-zA-Z])")
_BLOCK_SPLIT_RE = re.compile(r"\n[ \t]*\n")
# YAML events (scalars, sequences, mappings) in one front matter: a real post has a few dozen
MAX_FRONT_MATTER_NODES = 2_000
# the front-matter fields this module reads: one value, or a list of values
FIELD_SHAPES = {"title": "value", "date": "value", "author": "value",
                "categories": "list", "category": "list", "tags": "list"}


def split_front_matter(text: str) -> tuple[dict, str, list[str]]:
    """``(front matter, body, warnings)`` of a post."""
    warnings: list[str] = []
    m = _FM_RE.match(text)
    if not m:
        warnings.append("no front matter (--- … ---) at the top of the post")
        return {}, text, warnings
    if "\n" in m["lead"]:
        warnings.append("blank line before the front matter (Jekyll would not read it); read anyway")
    raw = m["fm"]
    fm: dict = {}
    try:
        loaded = _load_yaml(raw)
        if isinstance(loaded, dict):
            fm = loaded
        elif loaded is not None:
            raise yaml.YAMLError("front matter is not a mapping")
    except yaml.YAMLError as exc:
        warnings.append(
            f"front matter is not valid YAML ({str(exc).splitlines()[0]}); read as key: value lines"
        )
        for line in raw.splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip():
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                    value = value[1:-1]
                fm[key.strip()] = value
    return _field_shapes(fm, warnings), m["body"], warnings


def _load_yaml(raw: str):
    """YAML as plain strings, lists and mappings (``BaseLoader``: no tags run), after a look
    at its events: anchors and aliases, or too many nodes, raise ``YAMLError``."""
    for n, event in enumerate(yaml.parse(raw, Loader=yaml.BaseLoader)):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.YAMLError("YAML anchors and aliases are not read (an alias can expand without bound)")
        if n > MAX_FRONT_MATTER_NODES:
            raise yaml.YAMLError(f"more than {MAX_FRONT_MATTER_NODES} YAML nodes")
    return yaml.load(raw, Loader=yaml.BaseLoader)


def _field_shapes(fm: dict, warnings: list[str]) -> dict:
    """The fields in ``FIELD_SHAPES`` as one string or a list of strings; other shapes warn."""
    for key, shape in FIELD_SHAPES.items():
        value = fm.get(key)
        if value is None or isinstance(value, str):
            continue
        values = [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
        if not isinstance(value, list) or len(values) < len(value):
            kind = "a list with nested items" if isinstance(value, list) else "a mapping"
            warnings.append(f"front matter {key!r} is {kind}: only its plain values are read")
        elif shape == "value":
            warnings.append(f"front matter {key!r} is a list where one value belongs: its items are joined")
        fm[key] = " ".join(values) if shape == "value" else values
    return fm


def _as_list(value) -> list[str]:
    if value is None:
        return []
    items = [str(v) for v in value] if isinstance(value, list) else str(value).split()
    return [i.strip() for i in items if i and i.strip()]


def _split_footer(body: str, removed: list[Removed], warnings: list[str]) -> tuple[str, str | None]:
    """Body without the trailing footer lines, and the original-article URL; the footer's lines are appended
    to ``removed`` in document order."""
    lines = body.split("\n")
    original = None
    end = len(lines)
    found: list[list[Removed]] = []  # per footer line, bottom-up
    while end > 0:
        line = lines[end - 1].strip()
        if not line:
            end -= 1
            continue
        auto = _AUTOLINK_LINE_RE.match(line)
        links = _MD_LINK_RE.findall(line)
        if auto:
            url = auto["url"]
            if url:
                original = url
                found.append([Removed(page=None, text=url, reason="original_link")])
            else:
                warnings.append("empty original-article link <> in the footer")
                found.append([Removed(page=None, text=line, reason="empty_link")])
        elif links and not _MD_LINK_RE.sub("", line).strip(" ｜|·/\t") and all(t.strip() for t, _ in links):
            found.append(
                [
                    Removed(
                        page=None,
                        text=t.strip(),
                        reason="back_link" if t.strip().startswith("返回") else "navigation",
                    )
                    for t, _url in links
                ]
            )
        else:
            break
        end -= 1
    for entries in reversed(found):
        removed.extend(entries)
    return "\n".join(lines[:end]), original


def _split_summary(body: str) -> tuple[str | None, str]:
    stripped = body.lstrip("\n")
    first, _, rest = stripped.partition("\n\n")
    if not first.lstrip().startswith(">"):
        return None, body
    lines = [line.strip() for line in first.splitlines()]
    summary = "\n".join(line[1:].strip() if line.startswith(">") else line for line in lines)
    return clean_text(summary), rest


def _inline(text: str) -> str:
    out, pos = [], 0
    for m in _INLINE_RE.finditer(text):
        out.append(html_lib.escape(text[pos : m.start()], quote=False))
        if m["auto"] is not None:
            url = html_lib.escape(m["auto"])
            out.append(f'<a href="{url}">{url}</a>')
        else:
            out.append(f'<a href="{html_lib.escape(m["url"])}">{html_lib.escape(m["text"], quote=False)}</a>')
        pos = m.end()
    out.append(html_lib.escape(text[pos:], quote=False))
    return "".join(out)


def markdown_to_html(body: str) -> str:
    """The kramdown subset of these posts (module docstring, step 4)."""
    out = []
    for block in _BLOCK_SPLIT_RE.split(body.strip("\n")):
        if not block.strip():
            continue
        if block.lstrip().startswith(">"):
            inner = "\n".join(line.lstrip()[1:].strip() for line in block.splitlines())
            out.append(f"<blockquote><p>{_inline(inner)}</p></blockquote>")
        elif _HTML_BLOCK_RE.match(block) and not _AUTOLINK_LINE_RE.match(block.strip()):
            out.append(block)
        else:
            out.append(f"<p>{_inline(block.strip())}</p>")
    return "\n".join(out)


def _summary_repeated(summary: str, blocks: list[Block]) -> bool:
    core = re.sub(r"[（(][^（）()]{1,20}[）)]\s*$", "", summary)
    core = re.sub(r"\s+", "", core)
    rest = "".join(re.sub(r"\s+", "", b.text) for b in blocks)
    return len(core) >= 10 and core in rest


def extract_post(data: bytes, *, source: str) -> Draft:
    """Extract one front-matter post. Raises ``HtmlInputError`` (only) for unreadable input."""
    try:
        return _extract_post(bytes(data) if isinstance(data, bytearray | memoryview) else data, source)
    except HtmlInputError:
        raise
    except (RecursionError, MemoryError) as exc:
        raise HtmlInputError(
            f"post too large or too deeply nested to process ({source})", "too_complex"
        ) from exc


def _extract_post(data: bytes, source: str) -> Draft:
    check_bytes(data)
    text, codec, note = decode_html(data)
    check_binary(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    fm, body, warnings = split_front_matter(text)
    if note:
        warnings.insert(0, f"encoding: {note}")
    removed: list[Removed] = []
    footer: list[Removed] = []

    body, original_url = _split_footer(body, footer, warnings)
    summary, body = _split_summary(body)
    if body.strip():
        draft = extract_fragment(markdown_to_html(body), removed, warnings).draft
    else:
        draft = Draft(Document(kind="html", warnings=warnings), removed=removed)
    doc = draft.document
    doc.source, doc.encoding = source, codec
    if summary:
        if _summary_repeated(summary, draft.blocks):
            removed.insert(0, Removed(page=None, text=summary, reason="summary_duplicate"))  # it came first
        else:
            draft.blocks.insert(0, Block(kind=BlockKind.PARAGRAPH, text=summary))
    if not any(b.text for b in draft.blocks) and not doc.tables:
        raise HtmlInputError(f"post has no body text ({source})", "no_article")

    doc.title = clean_text(str(fm.get("title") or "")) or None
    if doc.title is None:
        warnings.append("front matter has no title (empty or missing)")
    raw_date = str(fm.get("date") or "")
    published, _, _ = parse_datetime(raw_date)
    if published is None:
        warnings.append(f"no publish date: front matter date {raw_date.strip()!r} has no date")
    elif published.tzinfo is None:
        warnings.append(TZ_ASSUMED_WARNING)
        published = published.replace(tzinfo=CST)
    doc.published_at = published

    removed.extend(footer)  # the footer comes last in the document
    tags = _as_list(fm.get("tags"))  # the front matter's tags first, then those printed in the body
    tags.extend(t for t in doc.tags if t not in tags)
    doc.tags = tags
    doc.author = doc.author or (clean_text(str(fm["author"])) if fm.get("author") else None)
    doc.categories = _as_list(fm.get("categories") or fm.get("category"))
    doc.original_url = original_url or doc.original_url
    return draft
