"""Decode the bytes of a web page to text, once, in one place.

``decode_html(data, http_content_type)`` returns ``(text, encoding, note)``: the decoded text, the Python codec
that produced it, and a human-readable note when the choice was not simply "the declaration, and it decoded
cleanly" (``None`` then).

Order of evidence, strongest first:

1. a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE): it wins over every declaration, as in browsers;
2. the ``charset`` parameter of the HTTP ``Content-Type`` header;
3. a ``<meta charset>`` / ``<meta http-equiv="Content-Type" content="…charset=…">`` or an XML declaration in
   the first 64 KiB (browsers look at 1 KiB; Chinese pages often put scripts before the meta tag);
4. the bytes themselves.

A declaration is *verified*, never trusted blindly:

* GB2312 / GBK / x-gbk / EUC-CN / CP936 declarations decode as GB18030, their superset (pages labelled GB2312
  routinely contain GBK-only characters);
* a non-UTF-8 declaration on bytes that are valid UTF-8 with multi-byte sequences is overruled in favour of
  UTF-8 (the chance that real GBK/Big5/Latin-1 text is also valid UTF-8 is negligible for any real length);
* a declaration that fails to decode strictly, or decodes to implausible text (see ``_plausible``), is
  overruled by UTF-8 when that decodes cleanly, else by GB18030 when that decodes cleanly and plausibly, else by
  charset-normalizer's best guess;
* with no usable declaration: UTF-8 if it decodes cleanly, else GB18030 if plausible, else charset-normalizer.

Only when nothing decodes cleanly is text produced with replacement characters (U+FFFD), and the note says so.
A multi-byte sequence cut off by a truncated download (last 1–3 bytes) is dropped, not replaced.
"""

from __future__ import annotations

import codecs
import re

import regex

__all__ = ["decode_html", "normalize_charset", "charset_from_content_type", "sniff_declared_charset"]

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # must precede UTF-16 LE (same first two bytes)
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# WHATWG labels folded onto the Python codec that decodes them correctly.
_ALIASES = {
    "gb2312": "gb18030",
    "gb_2312": "gb18030",
    "gb_2312-80": "gb18030",
    "gb-2312": "gb18030",
    "csgb2312": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "chinese": "gb18030",
    "iso-ir-58": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "gb18030": "gb18030",
    "gb-18030": "gb18030",
    "big5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "utf-16": "utf-16",
    "utf-16le": "utf-16-le",
    "utf-16be": "utf-16-be",
    # browsers decode all of these as windows-1252
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "windows-1252": "cp1252",
    "cp1252": "cp1252",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "euc-jp": "euc_jp",
    "euc-kr": "cp949",
}

_CT_CHARSET_RE = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9._:\-]+)""", re.I)
_META_RE = re.compile(rb"<meta\b[^>]{0,1024}>", re.I)
_XML_DECL_RE = re.compile(rb"""\A\s*<\?xml[^>]{0,200}encoding\s*=\s*["']([A-Za-z0-9._:\-]+)""", re.I)
_SNIFF_BYTES = 65536

# Characters that never occur in real text pages: C0/C1 controls (except tab, newlines, form feed),
# private-use code points and U+FFFD.
_JUNK_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ue000-\uf8ff\ufffd]")
_CJK_RE = regex.compile(r"\p{Han}")  # every Han block
# Latin-1 letters and symbols that pile up when CJK bytes are decoded as a Western code page
_LATIN1_RE = re.compile("[\u00c0-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u2018-\u201e\u2020-\u2030]")


def normalize_charset(label: str | None) -> str | None:
    """Map a declared charset label onto a Python codec name (GB2312 → gb18030 …); ``None`` if unknown."""
    if not label:
        return None
    key = label.strip().strip("\"'").lower().replace("_", "-") if label else ""
    key = {"gb-2312-80": "gb_2312-80", "gb-2312": "gb2312"}.get(key, key)
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        return codecs.lookup(key).name
    except LookupError:
        return None


def charset_from_content_type(content_type: str | None) -> str | None:
    """The raw ``charset`` label of an HTTP ``Content-Type`` value, if any."""
    if not content_type:
        return None
    m = _CT_CHARSET_RE.search(content_type.encode("latin-1", "replace"))
    return m.group(1).decode("ascii", "replace") if m else None


def sniff_declared_charset(data: bytes) -> str | None:
    """The raw charset label of the first ``<meta>`` (or XML declaration) that declares one."""
    head = data[:_SNIFF_BYTES]
    m = _XML_DECL_RE.match(head)
    if m:
        return m.group(1).decode("ascii", "replace")
    for meta in _META_RE.finditer(head):
        tag = meta.group(0)
        cm = _CT_CHARSET_RE.search(tag)
        if cm:
            return cm.group(1).decode("ascii", "replace")
    return None


def _strict(data: bytes, codec: str) -> str | None:
    """Strict decode; a multi-byte sequence cut off at the very end (truncated download) is tolerated."""
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        pass
    except Exception:  # noqa: BLE001 - some codecs raise other errors on odd input
        return None
    for cut in (1, 2, 3):
        if len(data) <= cut:
            break
        try:
            return data[:-cut].decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def _plausible(text: str) -> bool:
    """Whether decoded text looks like real text rather than mojibake.

    Rejected: control/private-use/U+FFFD characters above 0.5 % of the non-ASCII characters; CJK text whose
    ideographs are mostly *outside* GB2312 level 1 (the 3,755 common hanzi make up > 90 % of real Chinese
    text; UTF-8 bytes read as GBK produce mostly level-2 and GBK-only hanzi such as 鈥 锛 涓); Western
    decodings in which accented Latin-1 letters dominate the non-ASCII characters (CJK bytes read as Latin-1).
    """
    n = len(text) - len(text.encode("ascii", "ignore"))
    if n == 0:
        return True
    if len(_JUNK_RE.findall(text)) > max(2, n * 0.005):
        return False
    hanzi = _CJK_RE.findall(text)
    if len(hanzi) >= 20:
        common = 0
        sample = hanzi[:: max(1, len(hanzi) // 2000)]
        for ch in sample:
            try:
                enc = ch.encode("gb2312")
            except UnicodeEncodeError:
                continue
            if 0xB0 <= enc[0] <= 0xD7:
                common += 1
        if common < 0.6 * len(sample):
            return False
    return not (n >= 20 and len(_LATIN1_RE.findall(text)) > 0.5 * n and len(hanzi) < 0.1 * n)


def _guess(data: bytes) -> tuple[str, str] | None:
    """charset-normalizer's best plausible guess, as (text, codec)."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - dependency is pinned
        return None
    try:
        best = from_bytes(data[:200_000]).best()
    except Exception:  # noqa: BLE001 - a detector must not crash the pipeline
        return None
    if best is None:
        return None
    codec = normalize_charset(best.encoding) or best.encoding
    text = _strict(data, codec)
    if text is None or not _plausible(text):
        return None
    return text, codec


def _undeclared(data: bytes) -> tuple[str, str, str | None]:
    """Decode bytes that carry no usable declaration."""
    text = _strict(data, "utf-8")
    if text is not None:
        return text, "utf-8", None
    text = _strict(data, "gb18030")
    if text is not None and _plausible(text):
        return text, "gb18030", "no charset declared; bytes are not UTF-8 but decode as GB18030"
    guessed = _guess(data)
    if guessed:
        return guessed[0], guessed[1], f"no charset declared; detected {guessed[1]}"
    return _lossy(data, "no charset declared")


def _lossy(data: bytes, why: str) -> tuple[str, str, str]:
    """Last resort: the codec with the fewest replacement characters."""
    best = None
    for codec in ("utf-8", "gb18030"):
        text = data.decode(codec, errors="replace")
        bad = text.count("\ufffd")
        if best is None or bad < best[2]:
            best = (text, codec, bad)
    assert best is not None
    return (
        best[0],
        best[1],
        f"{why}; no encoding decodes cleanly: decoded as {best[1]} with {best[2]} invalid bytes replaced",
    )


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text without a BOM shows up as NUL bytes in every other position."""
    sample = data[:4096]
    if len(sample) < 16 or sample.count(0) < len(sample) * 0.3:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    codec = "utf-16-le" if odd_nuls > even_nuls * 4 else "utf-16-be" if even_nuls > odd_nuls * 4 else None
    if codec is None:
        return None
    return codec if _strict(data, codec) is not None else None


def decode_html(data: bytes, http_content_type: str | None = None) -> tuple[str, str, str | None]:
    """Decode page bytes; returns ``(text, codec, note)``. See the module docstring for the rules."""
    text, codec, note = _decode(data, http_content_type)
    if "\ufffd" not in text[-4:] and not (note and "replaced" in note):
        try:
            data.decode(codec)
        except UnicodeDecodeError as exc:
            if exc.start >= len(data) - 3:
                cut = f"the last {len(data) - exc.start} byte(s) (a multi-byte sequence cut off) were dropped"
                note = f"{note}; {cut}" if note else cut
        except LookupError:
            pass
    return text, codec, note


def _decode(data: bytes, http_content_type: str | None) -> tuple[str, str, str | None]:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            body = data[len(bom) :]
            text = _strict(body, codec)
            if text is not None:
                return text, codec, f"byte-order mark says {codec}"
            return (
                body.decode(codec, errors="replace"),
                codec,
                f"byte-order mark says {codec}; invalid bytes replaced",
            )

    utf16 = _utf16_without_bom(data)
    if utf16:
        return _strict(data, utf16) or "", utf16, f"no BOM, but the NUL-byte pattern is {utf16}"

    header_label = charset_from_content_type(http_content_type)
    meta_label = sniff_declared_charset(data)
    if header_label:
        origin, label = "HTTP header", header_label
    elif meta_label:
        origin, label = "meta", meta_label
    else:
        return _undeclared(data)
    declared = normalize_charset(label)
    said = f"{origin} says {label}"
    if declared is None:
        text, codec, note = _undeclared(data)
        return text, codec, f"{said} (unknown charset, ignored)" + (f"; {note}" if note else "")

    if declared in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        # an ASCII-compatible page cannot really be UTF-16 if we could read the declaration as bytes
        text, codec, note = _undeclared(data)
        return text, codec, f"{said}, impossible for ASCII-compatible bytes" + (f"; {note}" if note else "")

    if declared == "utf-8":
        text = _strict(data, "utf-8")
        if text is not None:
            return text, "utf-8", None
        gb = _strict(data, "gb18030")
        if gb is not None and _plausible(gb):
            return gb, "gb18030", f"{said} but bytes are not valid utf-8; they decode as gb18030"
        guessed = _guess(data)
        if guessed and guessed[1] != "utf-8":
            return guessed[0], guessed[1], f"{said} but bytes are not valid utf-8; detected {guessed[1]}"
        return _lossy(data, f"{said} but bytes are not valid utf-8")

    # a non-UTF-8 declaration: valid multi-byte UTF-8 beats it
    utf8 = _strict(data, "utf-8")
    if utf8 is not None and not data.isascii():
        return utf8, "utf-8", f"{said} but bytes are valid utf-8"
    text = _strict(data, declared)
    note = None
    if declared == "gb18030" and label.strip().lower() not in ("gb18030", "gb-18030"):
        note = f"{said}; decoded as gb18030 (its superset)"
    if text is not None and _plausible(text):
        return text, declared, note
    why = (
        f"{said} but bytes do not decode as {declared}"
        if text is None
        else f"{said} but the text is implausible"
    )
    if utf8 is not None:
        return utf8, "utf-8", f"{why}; they are valid utf-8"
    if declared != "gb18030":
        gb = _strict(data, "gb18030")
        if gb is not None and _plausible(gb):
            return gb, "gb18030", f"{why}; they decode as gb18030"
    guessed = _guess(data)
    if guessed:
        return guessed[0], guessed[1], f"{why}; detected {guessed[1]}"
    if text is not None:
        return text, declared, f"{why}; kept {declared} for lack of a better candidate"
    return _lossy(data, why)
