"""The page as a tree: parse the text with libxml2 (``parse``), read the head (``read_head``) and drop what is
not content (``preclean``), recording every dropped text in ``removed``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import lxml.etree

from pipeline.extract.html.guard import HtmlInputError
from pipeline.extract.html.text import clean_text, record, text_of
from pipeline.extract.html.vocab import HIDDEN_CLASS_RE
from pipeline.model import Removed

# dropped with their content in preclean: reason per tag
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

_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")
_XML_DECL_RE = re.compile(r"\A\s*<\?xml[^>]*\?>")
_END_DOC_RE = re.compile(r"</\s*(?:html|body)\s*>", re.I)
_LIBXML2_DEPTH_ERROR = "Excessive depth"  # libxml2's message when it gives up on nesting (2048 levels)
_BROKEN_ATTR_RE = re.compile(r"[\"'<>;/=]|^[^a-z_:]", re.I)
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


def parse(text: str, warnings: list[str] | None = None):
    """lxml tree of the page; parser give-ups (nesting beyond libxml2's depth limit) go to ``warnings``."""
    text = _CONTROL_RE.sub("", text)
    text = _XML_DECL_RE.sub("", text)
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
            if _LIBXML2_DEPTH_ERROR in err.message:
                warnings.append(
                    "markup nested deeper than the parser's limit (2048 levels); the rest of the page was not read"
                )
                break
    return root


def body_of(root):
    """The <body> element, or the root when the parser made none."""
    body = next(root.iterchildren("body"), None)  # (find() parses its path on every call)
    return root if body is None else body


# ------------------------------------------------------------------------------------------------ head


@dataclass
class Head:
    title: str | None = None
    metas: dict[str, list[str]] = field(default_factory=dict)  # lower-cased name/property → contents
    canonical: str | None = None
    base_href: str | None = None
    jsonld: list[dict] = field(default_factory=list)
    broken: bool = False  # a head tag with malformed attributes (unescaped quotes / markup inside)

    def meta(self, *keys: str) -> str | None:
        """The first non-empty content of the first of ``keys`` that has one."""
        for k in keys:
            for v in self.metas.get(k, ()):
                v = clean_text(v)
                if v:
                    return v
        return None


def read_head(root) -> Head:
    """<title>, <meta>, <link rel=canonical>, <base> and JSON-LD, read from the whole document (broken markup
    can push head elements into <body>)."""
    head = Head()
    for el in root.iter("title", "meta", "link", "base"):
        tag = el.tag
        if tag == "title":
            if head.title is None:
                t = clean_text(text_of(el))
                if t:
                    head.title = t
        elif tag == "meta":
            _read_meta(el, head)
        elif tag == "link":
            rel = (el.get("rel") or "").lower().split()
            if "canonical" in rel and el.get("href") and head.canonical is None:
                head.canonical = el.get("href").strip()
        elif tag == "base" and el.get("href") and head.base_href is None:
            head.base_href = el.get("href").strip()
    head.jsonld.extend(_jsonld_objects(root))
    return head


def _read_meta(el, head: Head) -> None:
    """One <meta> into ``head.metas``; malformed attributes mark the head ``broken``."""
    key = el.get("property") or el.get("name") or el.get("itemprop") or el.get("http-equiv")
    if key:
        head.metas.setdefault(key.strip().lower(), []).append(el.get("content") or "")
    for name in el.attrib:
        if _BROKEN_ATTR_RE.search(name):
            head.broken = True
    if "<" in (el.get("content") or "") and key and "description" in key.lower():
        head.broken = True


def _jsonld_objects(root) -> list[dict]:
    """The JSON objects of the page's ``application/ld+json`` scripts (unreadable ones are skipped)."""
    objects: list[dict] = []
    for script in root.iter("script"):
        if (script.get("type") or "").lower() == "application/ld+json" and script.text:
            try:
                data = json.loads(script.text)
            except ValueError:
                continue
            items = data if isinstance(data, list) else [data]
            objects.extend(d for d in items if isinstance(d, dict))
    return objects


# ------------------------------------------------------------------------------------------------ preclean


def drop(el) -> None:
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


def is_hidden(el) -> bool:
    """``hidden`` attribute, ``display:none`` / ``visibility:hidden`` style, or a hiding class."""
    if el.get("hidden") is not None:
        return True
    style = el.get("style")
    if style and _HIDDEN_STYLE_RE.search(style):
        return True
    cls = el.get("class")
    return bool(cls and HIDDEN_CLASS_RE.search(cls))


def preclean(root, body, head: Head, removed: list[Removed], warnings: list[str]) -> None:
    """Drop non-content elements (recording their text): scripts, styles, comments, forms, embeds, hidden
    elements, and content that broken head markup spilled into <body>."""
    _drop_non_content(root, removed)
    _drop_hidden(body, removed)
    _drop_head_spill(body, head, removed, warnings)


def _drop_non_content(root, removed: list[Removed]) -> None:
    for el in root.iter(lxml.etree.Comment, *DROP_TAGS):
        tag = el.tag
        if tag is lxml.etree.Comment:
            record(removed, el.text or "", "comment")
        else:
            reason = DROP_TAGS[tag]
            if reason in ("script", "style"):
                record(removed, el.text or "", reason)
            elif reason == "form":
                record(removed, text_of(el) if tag != "input" else (el.get("value") or ""), "form")
    lxml.etree.strip_elements(
        root, lxml.etree.Comment, lxml.etree.ProcessingInstruction, *DROP_TAGS, with_tail=False
    )


def _drop_hidden(body, removed: list[Removed]) -> None:
    hidden = [el for el in body.iter() if el is not body and is_hidden(el)]
    for el in hidden:
        if el.getparent() is None or body not in el.iterancestors():  # inside an already dropped one
            continue
        record(removed, text_of(el), "hidden")
        drop(el)


def _drop_head_spill(body, head: Head, removed: list[Removed], warnings: list[str]) -> None:
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
        record(removed, body.text, "head_spill")
        n += 1
    body.text = None
    for child in spill:
        if isinstance(child.tag, str) and child.tag not in HEAD_ONLY_TAGS:
            record(removed, text_of(child), "head_spill")
            n += 1
        record(removed, child.tail or "", "head_spill")
        child.tail = None
        body.remove(child)
    warnings.append(f"broken markup in <head> spilled into <body>; {n} spilled text block(s) dropped")
