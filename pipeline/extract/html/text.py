"""Text helpers shared by the HTML stages: whitespace as a browser shows it, character counts, comparison keys,
the character classes the scores count, and recording a dropped text."""

from __future__ import annotations

import re

import regex

from pipeline.model import Removed

# A metadata line (source, byline, dateline) is at most this many characters; longer lines are article text.
SHORT_LINE_CHARS = 80
REMOVED_TEXT_CHARS = 300  # a removed text is kept up to this length in ``removed`` (an audit row, not a copy)

_WS_RUN_RE = re.compile(r"[ \t\r\n\f\v\u00a0\u200b\u2028\u2029\ufeff]+")
# wide (CJK) text: every Han block (\p{Han}: a name such as 王䶮 or 𠮷 too), CJK punctuation, full-width forms
WIDE = r"\p{Han}\u2e80-\u2fff\u3000-\u303f\uff00-\uffef"
WIDE_BREAK_RE = regex.compile(rf"(?<=[{WIDE}])[ \t\r\f\v]*\n[ \t\r\n\f\v]*(?=[{WIDE}])")
_INVISIBLE_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
SENTENCE_PUNCT_RE = re.compile(r"[，。；！？]")
PUNCT_RE = re.compile(r"[，。！？；：、“”《》（）,.;!?]")
WORDCHAR_RE = regex.compile(r"[0-9A-Za-z\p{Han}]")
_SPACE_RE = re.compile(r"[\s\u3000]+")

# A <br> inside <strong>/<a>/… is written into the walker's buffer as this marker and resolved when the
# segment is flushed.
SOFT_BREAK = "\x01"
_SOFT_JOIN_RE = regex.compile(rf"(?<=[{WIDE}])\s*\x01[\s\x01]*(?=[{WIDE}])")


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
        s = WIDE_BREAK_RE.sub("", s)
    return _WS_RUN_RE.sub(" ", s).strip()


def join_soft_breaks(s: str) -> str:
    """A <br> inside <strong>/<a>/… (a title broken over lines) joins the lines: nothing between CJK
    characters, a space otherwise."""
    return _SOFT_JOIN_RE.sub("", s).replace(SOFT_BREAK, " ")


def char_count(s: str) -> int:
    """Non-whitespace characters of ``s``."""
    return sum(map(len, s.split()))


def norm_key(s: str) -> str:
    """``s`` without any whitespace: two texts that differ only by spacing (``2007　年末`` / ``2007年末``) are
    equal."""
    return _SPACE_RE.sub("", s or "")


def text_of(el) -> str:
    """All text inside ``el`` (lxml.html's ``text_content`` for plain etree elements)."""
    return "".join(el.itertext())


def truncate(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def record(removed: list[Removed], text: str, reason: str, *, clean: bool = False) -> None:
    """Append a dropped text to ``removed`` (cleaned unless ``clean`` says it already is; empty text is not
    recorded)."""
    if not clean:
        text = clean_text(text)
    if text:
        removed.append(Removed(page=None, text=truncate(text, REMOVED_TEXT_CHARS), reason=reason))
