"""Chinese text, in one place: numerals, character classes, folding, the heading grammar,
document numbers and dates, and the gazette watermark.

Every stage takes its Chinese-text rules from here, so there is one copy of each: the
layout stage asks ``heading_start`` whether a line opens a heading with the same grammar
that the outline stage builds the section tree with. Patterns use the ``regex`` module:
``\\p{Han}`` covers every Han block (a name such as 王䶮 or 𠮷 survives every rule), and
fuzzy matching finds the watermark however it was misprinted.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import regex

# --- character classes ---------------------------------------------------------------------

HAN = r"\p{Han}"
SPACE = r"[\s\u3000]"  # ASCII and ideographic spaces
_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "「": '"', "」": '"', "『": '"', "』": '"'})
_SPACES = regex.compile(r"\s+")  # \s covers U+3000 too
# spaces a typesetter put between Han characters (第二章 自 然 人, a title broken by layout)
_SPACE_BETWEEN_HAN = regex.compile(r"(?<=[\p{Han}“”《》〈〉])\s+(?=[\p{Han}“”《》〈〉])")


def is_han(ch: str) -> bool:
    return bool(ch) and regex.match(HAN, ch) is not None


def fold(text: str) -> str:
    """The comparison form of a text: NFKC (full-width to half-width), quotes of one style,
    no whitespace. Two strings that print alike fold alike."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text).translate(_QUOTES))


def join_han(text: str) -> str:
    """Remove the spaces between Han characters (and CJK quotes), keep the others:
    ``自 然 人`` -> ``自然人``, ``2021 年`` stays."""
    return _SPACE_BETWEEN_HAN.sub("", text).strip()


# --- numerals ------------------------------------------------------------------------------

DIGITS = {"零": 0, "〇": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
          "八": 8, "九": 9}
_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_BIG_UNITS = {"万": 10_000, "亿": 100_000_000}
# a numeral as headings print it: Chinese, Arabic or full-width digits
NUM = r"[零〇○一二三四五六七八九两十百千万亿0-9０-９]+"


def cn_to_int(text: str) -> int | None:
    """A numeral to int: 十二 -> 12, 一百零五 -> 105, 一千二百六十 -> 1260, 两万 -> 20000,
    九千九百九十九万 -> 99990000, 二〇二一 -> 2021 (digit by digit), ４２ -> 42; None if it is
    not one."""
    text = unicodedata.normalize("NFKC", text.strip())
    if not text:
        return None
    if text.isdigit():
        return int(text)
    if all(ch in DIGITS for ch in text):
        return int("".join(str(DIGITS[ch]) for ch in text))
    total = section = digit = 0
    for ch in text:
        if ch in DIGITS:
            digit = DIGITS[ch]
        elif ch in _SMALL_UNITS:
            section += (digit or 1) * _SMALL_UNITS[ch]
            digit = 0
        elif ch in _BIG_UNITS:
            total = (total + section + digit) * _BIG_UNITS[ch] if ch == "亿" else total + (section + digit) * _BIG_UNITS[ch]
            section = digit = 0
        else:
            return None
    return total + section + digit


_CN = "零一二三四五六七八九"


def _below_10000(n: int, leading: bool) -> str:
    """0 < n < 10000 in Chinese; ``leading``: first group of the number (十二, not 一十二)."""
    out, zero = [], False
    for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d, n = divmod(n, unit)
        if d:
            if zero:
                out.append("零")
            out.append("" if (unit == 10 and d == 1 and leading and not out) else _CN[d])
            out.append(name)
            zero = False
        elif out:
            zero = True
    return "".join(out)


def int_to_cn(n: int) -> str:
    """12 -> 十二, 105 -> 一百零五, 1010 -> 一千零一十, 1260 -> 一千二百六十,
    10001 -> 一万零一, 99990000 -> 九千九百九十九万 (the numerals of 第X条 and 一、 items)."""
    if n < 0:
        raise ValueError(f"no Chinese numeral for {n}")
    if n == 0:
        return "零"
    groups = []  # 亿, 万, units
    while n:
        n, low = divmod(n, 10000)
        groups.append(low)
    out = []
    for k in range(len(groups) - 1, -1, -1):
        value = groups[k]
        if value == 0:
            continue
        below = k + 1 < len(groups) and any(groups[k + 1:])
        if below and (value < 1000 or groups[k + 1] == 0 and out and not out[-1].endswith("零")):
            out.append("零")
        out.append(_below_10000(value, leading=not out) + ("", "万", "亿", "万亿")[k])
    return "".join(out).replace("零零", "零")


# --- the heading grammar -------------------------------------------------------------------


@dataclass(frozen=True)
class HeadingRule:
    level: str
    rank: int  # smaller is higher
    pattern: regex.Pattern  # group 1: the number
    run_in: bool  # may share its paragraph with body text


_SP = r"[\s\u3000]*"
# one ordered table of every numbered heading level; levels and ranks in ``pipeline.outline``
GRAMMAR: tuple[HeadingRule, ...] = (
    HeadingRule("part", 1, regex.compile(rf"^第{_SP}({NUM}){_SP}(?:编|部分)"), False),
    HeadingRule("subpart", 2, regex.compile(rf"^第{_SP}({NUM}){_SP}分{_SP}编"), False),  # 民法典: 第一分编 通则
    HeadingRule("chapter", 3, regex.compile(rf"^第{_SP}({NUM}){_SP}章"), False),
    HeadingRule("section", 4, regex.compile(rf"^第{_SP}({NUM}){_SP}节"), False),
    HeadingRule("article", 5, regex.compile(rf"^第{_SP}({NUM}){_SP}条"), True),
    HeadingRule("item", 6, regex.compile(r"^([一二三四五六七八九十百]+)[、，,]"), True),
    HeadingRule("subitem", 7, regex.compile(r"^[（(]([一二三四五六七八九十百]+)[）)]"), True),
    HeadingRule("point", 8, regex.compile(r"^(\d{1,3})[.．、](?!\d)"), True),
    HeadingRule("subpoint", 9, regex.compile(r"^[（(](\d{1,3})[）)]"), True),
)
# a code's unnumbered closing part (民法典: 附　则, after 第七编), a heading of the part level
SUPPLEMENTARY = regex.compile(rf"^附{_SP}则$")
# levels whose marker at the start of a line always opens a new block: a wrapped line of a
# sentence can start with 第十条规定的… or 2. (a reference, a number), never with 第二章 or 一、
_LINE_OPENERS = frozenset({"part", "subpart", "chapter", "section", "item", "subitem"})
_APPENDIX = regex.compile(rf"^(?:附{_SP}件|附{_SP}录|附{_SP}则$)")


def heading_rule(text: str) -> tuple[HeadingRule, regex.Match] | None:
    """The first grammar rule whose number pattern opens ``text``, with its match."""
    stripped = text.lstrip(" \u3000")
    for rule in GRAMMAR:
        m = rule.pattern.match(stripped)
        if m:
            return rule, m
    return None


def heading_start(text: str) -> bool:
    """Does ``text`` open with the marker of a block-level heading (第X编/章/节, 一、, （一）,
    附件, 附则)? The layout stage never joins such a line to the paragraph above it."""
    stripped = text.lstrip(" \u3000")
    found = heading_rule(stripped)
    return (found is not None and found[0].level in _LINE_OPENERS) or bool(_APPENDIX.match(stripped))


def next_item_marker(level: str, number: int) -> str | None:
    """A pattern for the marker of item ``number`` at ``level`` (None for levels that are no
    run-in items): where a lost line break glued that item to the one before."""
    cn = int_to_cn(number)
    return {
        "article": rf"第{_SP}{cn}{_SP}条",
        "item": rf"{cn}、",
        "subitem": rf"[（(]{cn}[）)]",
        "point": rf"{number}[.．、](?!\d)",
        "subpoint": rf"[（(]{number}[）)]",
    }.get(level)


# --- headings as printed ---------------------------------------------------------------------

SENTENCE_PUNCT = regex.compile(r"[。；！？!?;]")
# a heading standing alone holds at most this many characters (a long title wraps, a
# sentence is longer); a run-in title (up to its 。 or ：) at most this many
MAX_HEADING_CHARS = 60
MAX_RUN_IN_TITLE = 60
_RUN_IN_TITLE = regex.compile(rf"^([^，,]{{1,{MAX_RUN_IN_TITLE}}}?[。：:])")


@dataclass(frozen=True)
class Heading:
    level: str
    rank: int
    number: int | None
    heading: str  # the heading as printed (cleaned)
    title: str  # without its number
    rest: str  # run-in body text after the heading


def parse_heading(text: str, set_apart: bool = True, one_line: bool = False) -> Heading | None:
    """Recognise a heading at the start of ``text`` (a whole paragraph).

    ``set_apart``: the paragraph stood apart (short line, centred or display size);
    ``one_line``: it was set in one line, which is enough for 编/章/节/部分 headings.
    编/章/节 headings stand alone; 条 articles and 一、/（一）/1./（1） items may run in:
    ``（一）指导思想。深入贯彻…``: the run-in title (up to its 。 or ：) is the title, the
    rest of the paragraph the section's text.
    """
    text = text.strip()
    if SUPPLEMENTARY.match(text) and (set_apart or one_line):
        return Heading("supplementary", 1, None, text, "附则", "")  # 民法典: 附　则 closes the code, beside its 编
    found = heading_rule(text)
    if found is None:
        return None
    rule, m = found
    number = cn_to_int(m.group(1))
    after = text[m.end():].lstrip(" \u3000")
    marker = text[: m.end()].strip()
    if rule.level == "article":  # 第一条　为了…: an article has no title of its own
        return Heading(rule.level, rule.rank, number, marker, "", after.strip())
    title = _run_in_title(after) if rule.run_in else None
    if title and after[len(title):].strip():  # 二、事业收入：指…的收入。: run in, even on one line
        return _run_in(rule, number, text, after, title)
    if _standalone_ok(text, set_apart or (one_line and not rule.run_in), rule.run_in):
        return Heading(rule.level, rule.rank, number, text, clean_title(after), "")
    if not rule.run_in:
        return None
    if title:
        return _run_in(rule, number, text, after, title)
    return Heading(rule.level, rule.rank, number, marker, "", after.strip())


def _run_in_title(after: str) -> str | None:
    m = _RUN_IN_TITLE.match(after)
    return m.group(1) if m and not SENTENCE_PUNCT.search(m.group(1)[:-1]) else None


def _run_in(rule: HeadingRule, number: int | None, text: str, after: str, title: str) -> Heading:
    heading = text[: len(text) - len(after)] + title
    return Heading(rule.level, rule.rank, number, heading.strip(), clean_title(title), after[len(title):].strip())


def _standalone_ok(text: str, set_apart: bool, run_in: bool) -> bool:
    # a run-in level may end its lone heading with 。 or ：; a chapter heading never does
    body = text.rstrip("。.：:") if run_in else text
    return set_apart and len(text) <= MAX_HEADING_CHARS and not SENTENCE_PUNCT.search(body)


def clean_title(title: str) -> str:
    """A heading's title as compared and stored: spaces folded, 总　则 joined, no end mark."""
    title = regex.sub(r"[\s\u3000]+", " ", title).strip()
    title = join_han(title) if _spaced_out(title) else title
    return title.rstrip("。：:").strip()


def _spaced_out(title: str) -> bool:
    """总　则 / 附　则: characters spread out with spaces for typographic effect."""
    parts = title.split(" ")
    return len(parts) > 1 and all(len(p) <= 2 for p in parts)


# --- document numbers and dates ----------------------------------------------------------

# 穗府办〔2021〕9号, 国发〔2021〕12号; the issuer code may not hold spaces or sentence marks
DOC_NUMBER = regex.compile(r"[^\s，。：:（）()]{1,24}[〔［\[（(]\s*\d{4}\s*[〕］\]）)]\s*\d{1,4}\s*号")
_DATE_CN = regex.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日$")
_DATE_ISO = regex.compile(r"^(\d{4})\s*[-./]\s*(\d{1,2})\s*[-./]\s*(\d{1,2})$")


def iso_date(text: str) -> str | None:
    """``2021年9月15日`` / ``2021-09-15`` / ``2021.9.15`` (full-width digits too) -> ISO date."""
    t = unicodedata.normalize("NFKC", text).strip()
    m = _DATE_CN.match(t) or _DATE_ISO.match(t)
    if not m:
        return None
    year, month, day = (int(g) for g in m.groups())
    return f"{year:04d}-{month:02d}-{day:02d}" if 1 <= month <= 12 and 1 <= day <= 31 else None


# --- the gazette watermark -----------------------------------------------------------------

WATERMARK_PHRASES = ("本文与正式文件同等效力",)
# up to two characters missing, extra or changed (同效力, 具有同等效力, a lost 与)
WATERMARK_EDITS = 2
_OPEN, _CLOSE = r"[(（［\[【〔<《「『]", r"[)）］\]】〕>》」』]"


def _watermark_pattern(phrase: str) -> regex.Pattern:
    spaced = rf"{SPACE}*".join(map(regex.escape, phrase))  # 本 文 与 正 式…
    return regex.compile(rf"(?be)(?P<open>{_OPEN}{SPACE}*)?(?:{spaced}){{e<={WATERMARK_EDITS}}}(?P<close>{SPACE}*{_CLOSE})?")


_WATERMARKS = tuple((_watermark_pattern(p), frozenset(p)) for p in WATERMARK_PHRASES)
# a line is no watermark when its watermark-like part is this small a share of the phrase
_MIN_WATERMARK_CHARS = 8


def find_watermark(text: str) -> tuple[int, int] | None:
    """The (start, end) of the watermark phrase in ``text``, brackets included, when it stands
    alone or at either end of the line (``— 12 —（本文与正式文件同等效力）``); None when the
    line has none or quotes the phrase inside a sentence."""
    chars = set(text)
    for pattern, phrase_chars in _WATERMARKS:
        # up to WATERMARK_EDITS characters wrong leave the rest of the phrase's characters in
        # the line: a cheap test that spares the fuzzy search on nearly every line
        if len(chars & phrase_chars) < len(phrase_chars) - WATERMARK_EDITS:
            continue
        m = pattern.search(text)
        if m is None or len(fold(m.group(0))) < _MIN_WATERMARK_CHARS:
            continue
        before, after = text[: m.start()].strip(), text[m.end():].strip()
        at_an_end = not before or not after
        bracketed = m.group("open") is not None or m.group("close") is not None
        if at_an_end and (bracketed or not (before or after) or _furniture_rest(before or after)):
            return m.start(), m.end()
    return None


def _furniture_rest(text: str) -> bool:
    """What may share a line with an unbracketed watermark: a page number's digits and dashes."""
    return regex.fullmatch(r"[\d\s\-‐‑‒–—―－~～第页/]+", text) is not None
