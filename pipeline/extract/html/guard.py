"""Input guard of the HTML stage: is this a web page at all? Byte checks before decoding (empty input, the magic
numbers of other formats, a giant tag), text checks after (binary garbage, JSON, text without markup). Each
failed check raises ``HtmlInputError`` with a short reason code; ``post.py`` runs the same checks on posts."""

from __future__ import annotations

import json
import re

from pipeline.sniff import KNOWN_FORMATS

__all__ = ["HtmlInputError", "check_bytes", "check_giant_tag", "check_binary", "check_text"]

# Only whitespace in the first 4 KiB counts as an empty body (a real page has markup long before that).
BLANK_PREFIX_BYTES = 4096
MAGIC_PREFIX_BYTES = 16  # the longest magic number below is 8 bytes; bzip2's check reads 10
# The binary and markup checks read this many characters: enough for any page's <head>, cheap on a huge one.
TEXT_SAMPLE_CHARS = 20_000
# Binary garbage: more than 2 % control/invalid characters in the sample, and more than 8 (a page may carry
# a few stray control characters that tree.parse removes).
JUNK_MIN_CHARS = 8
JUNK_MAX_SHARE = 0.02
MARKUP_SCAN_CHARS = 200_000  # a page with no HTML tag in its first 200,000 characters is not HTML
# libxml2 is quadratic in the attributes of one element: a single tag this long (bytes) is refused.
GIANT_TAG_BYTES = 200_000

_GIANT_TAG_RE = re.compile(rb"<[^<>]{%d}" % GIANT_TAG_BYTES)
_JUNK_CHAR_RE = re.compile("[\x01-\x08\x0b\x0e-\x1f\x7f\ufffd\ue000-\uf8ff]")
_TAG_RE = re.compile(
    r"<\s*(?:html|head|body|p|div|br|span|a|table|meta|title|h[1-6]|ul|li|section|article|img|!doctype)\b",
    re.I,
)


class HtmlInputError(ValueError):
    """The input cannot be read as an HTML article; the message names the reason, ``reason`` is a short code:
    ``empty`` / ``not_html`` (another format: PDF, image, archive, JSON, plain text) / ``binary`` (garbage
    bytes) / ``unparseable`` / ``no_article`` (only navigation or boilerplate) / ``too_complex`` (nesting or
    size beyond what can be processed)."""

    def __init__(self, message: str, reason: str = "bad_html"):
        super().__init__(message)
        self.reason = reason


def check_bytes(data: bytes) -> None:
    """Raise for input that is not bytes, is empty, or starts with another format's magic number."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise HtmlInputError(f"expected bytes, got {type(data).__name__}", "not_html")
    if not data or not bytes(data[:BLANK_PREFIX_BYTES]).strip():
        raise HtmlInputError(
            "empty body: no bytes to read" if not data else "empty body: whitespace only", "empty"
        )
    head = bytes(data[:MAGIC_PREFIX_BYTES])
    for magic, what in KNOWN_FORMATS:
        if head.startswith(magic):
            if what is None:  # BZh: bzip2 needs a block-size digit and the block magic
                if len(head) >= 10 and head[3:4].isdigit() and head[4:10] == b"1AY&SY":
                    raise HtmlInputError("not HTML: the bytes are bzip2-compressed data", "not_html")
                continue
            raise HtmlInputError(f"not HTML: the bytes are {what}", "not_html")


def check_giant_tag(data: bytes, source: str) -> None:
    """Raise for a single tag longer than ``GIANT_TAG_BYTES`` (the parser would take minutes)."""
    if _GIANT_TAG_RE.search(data):
        raise HtmlInputError(f"a single tag of over {GIANT_TAG_BYTES:,} bytes in {source}", "too_complex")


def check_binary(text: str) -> None:
    """Raise for binary garbage. NUL bytes do not count: padding with NULs (a preallocated or partly
    written file) around a readable page is removed by ``tree.parse``."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    sample = text[:TEXT_SAMPLE_CHARS]
    if not sample.strip():
        raise HtmlInputError("empty body: no text after decoding", "empty")
    junk = len(_JUNK_CHAR_RE.findall(sample))
    if junk > max(JUNK_MIN_CHARS, len(sample) * JUNK_MAX_SHARE):
        raise HtmlInputError(
            f"not HTML: binary data ({junk} control/invalid characters in the first {len(sample)} characters)",
            "binary",
        )


def check_text(text: str) -> None:
    """``check_binary``, then raise for JSON and for text without HTML markup."""
    check_binary(text)
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not _TAG_RE.search(text[:MARKUP_SCAN_CHARS]):
        if text[:TEXT_SAMPLE_CHARS].lstrip()[:1] in "{[":
            try:
                json.loads(text)
            except ValueError:
                pass
            else:
                raise HtmlInputError("not HTML: the body is JSON", "not_html")
        raise HtmlInputError("not HTML: no HTML markup found (plain text or another format)", "not_html")
