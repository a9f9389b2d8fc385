"""What a file is, from its first bytes (an extension may lie): the one sniffer that ingestion,
the raw store and the HTML guard use.

``sniff`` names the kind of input (pdf / post / html / unknown); ``describe`` names a file
that is none of them in words, so that a message never quotes the bytes of an input (which
may be a secret); ``KNOWN_FORMATS`` is the table of magic numbers behind it.
"""

from __future__ import annotations

# magic numbers of files that are not web pages, and what each is (None: checked more closely)
KNOWN_FORMATS = (
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


def sniff(data: bytes, name: str = "") -> str:
    """The input kind from the bytes (a file's extension may lie): pdf / post / html / unknown."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with a byte-order mark
        data = data[:8192].decode("utf-16", "replace").encode("utf-8", "replace")
    head = data[:4096].lstrip(b"\xef\xbb\xbf\r\n\t \x00")
    low = head[:1024].lower()
    markup = head.startswith(b"<") or b"<html" in low or b"<!doctype html" in low
    if not markup and data[:1024].find(b"%PDF-") != -1:  # the header may follow a little junk
        return "pdf"
    if head.startswith(b"---") and (name.endswith((".md", ".markdown")) or b"\ntitle:" in head):
        return "post"
    if markup:
        return "html"
    return "unknown"


def describe(data: bytes) -> str:
    """What the bytes are, in words: a message must not quote them (the input may be a secret)."""
    what = next((name for magic, name in KNOWN_FORMATS if name and data.startswith(magic)), None)
    return what or f"{len(data)} bytes without a PDF header or markup"
