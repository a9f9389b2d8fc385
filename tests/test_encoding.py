"""decode_html: BOM > HTTP header > <meta>, every declaration verified against the bytes."""

from __future__ import annotations

import codecs

import pytest

from pipeline.extract.encoding import (
    charset_from_content_type,
    decode_html,
    normalize_charset,
    sniff_declared_charset,
)
from tests.conftest import CORPUS

CORPUS_HTML = CORPUS / "html"

BODY = (
    "<p>第一条　为了深化国家监察体制改革，加强对所有行使公权力的公职人员的监督，实现国家监察全面覆盖，"
    "深入开展反腐败工作，推进国家治理体系和治理能力现代化，根据宪法，制定本法。</p>"
    "<p>国务院总理朱镕基主持会议。</p>"  # 镕 is GBK-only: not in GB2312
)
MOJIBAKE = ("\ufffd", "鈥", "锛", "Ã", "â€", "涓")


def page(meta: str = "") -> str:
    return f"<html><head>{meta}<title>监察法</title></head><body>{BODY}</body></html>"


def assert_clean(text: str) -> None:
    assert "朱镕基" in text and "国家监察体制改革" in text
    for bad in MOJIBAKE:
        assert bad not in text, bad


def test_gbk_page_with_correct_declaration():
    text, codec, note = decode_html(page('<meta charset="gbk">').encode("gbk"))
    assert codec == "gb18030"
    assert_clean(text)
    assert note and "gb18030" in note


def test_gb2312_declaration_with_gbk_only_characters_decodes_as_gb18030():
    data = page('<meta http-equiv="Content-Type" content="text/html; charset=gb2312">').encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("gb2312")
    text, codec, note = decode_html(data)
    assert codec == "gb18030"
    assert_clean(text)
    assert "superset" in note


def test_gbk_bytes_with_wrong_utf8_declaration():
    text, codec, note = decode_html(page('<meta charset="utf-8">').encode("gbk"))
    assert codec == "gb18030"
    assert_clean(text)
    assert "meta says utf-8 but bytes are not valid utf-8" in note


def test_gbk_bytes_without_declaration():
    text, codec, note = decode_html(page().encode("gbk"))
    assert codec == "gb18030"
    assert_clean(text)
    assert "no charset declared" in note


def test_gbk_bytes_declared_latin1_are_detected():
    text, codec, note = decode_html(page('<meta charset="iso-8859-1">').encode("gbk"))
    assert codec == "gb18030"
    assert_clean(text)
    assert "implausible" in note


def test_gb2312_declaration_on_utf8_bytes_prefers_utf8():
    text, codec, note = decode_html(
        page('<meta http-equiv="content-type" content="text/html;charset=GB2312">').encode()
    )
    assert codec == "utf-8"
    assert_clean(text)
    assert note == "meta says GB2312 but bytes are valid utf-8"


def test_people_page_declares_gb2312_but_is_utf8():
    path = CORPUS_HTML / "news_people_2019-06-15_meta_gb2312_bytes_utf8.html"
    text, codec, note = decode_html(path.read_bytes())
    assert codec == "utf-8"
    assert "女儿出嫁，郑板桥画了几笔兰花当嫁妆" in text
    assert "bytes are valid utf-8" in note
    for bad in MOJIBAKE:
        assert bad not in text


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
    ],
)
def test_bom_wins_over_declarations(bom, codec):
    data = bom + page('<meta charset="gbk">').encode(codec)
    text, used, note = decode_html(data, "text/html; charset=gbk")
    assert used == codec
    assert_clean(text)
    assert note == f"byte-order mark says {codec}"
    assert not text.startswith("\ufeff")


def test_http_header_wins_over_meta():
    data = page('<meta charset="utf-8">').encode("gbk")
    text, codec, note = decode_html(data, 'text/html; charset="GBK"')
    assert codec == "gb18030"
    assert_clean(text)
    assert note.startswith("HTTP header says GBK")


def test_http_header_gb2312_on_utf8_bytes():
    text, codec, note = decode_html(page().encode(), "text/html; charset=gb2312")
    assert codec == "utf-8"
    assert_clean(text)
    assert note == "HTTP header says gb2312 but bytes are valid utf-8"


def test_http_header_utf8_on_gbk_bytes():
    text, codec, note = decode_html(page().encode("gbk"), "text/html;charset=utf-8")
    assert codec == "gb18030"
    assert_clean(text)
    assert "HTTP header says utf-8" in note


def test_http_header_without_charset_falls_back_to_meta():
    text, codec, _ = decode_html(page('<meta charset="gbk">').encode("gbk"), "text/html")
    assert codec == "gb18030"
    assert_clean(text)


def test_plain_utf8_has_no_note():
    text, codec, note = decode_html(page('<meta charset="utf-8">').encode())
    assert (codec, note) == ("utf-8", None)
    assert_clean(text)


def test_big5_page():
    data = '<html><head><meta charset="big5"></head><body><p>中華人民共和國監察法，為了深化國家監察體制改革。</p></body></html>'
    text, codec, note = decode_html(data.encode("big5"))
    assert codec == "big5hkscs"
    assert "監察體制改革" in text


def test_utf16_without_bom_is_detected():
    text, codec, _ = decode_html(page().encode("utf-16-le"))
    assert codec == "utf-16-le"
    assert_clean(text)


def test_truncated_multibyte_sequence_is_dropped_not_replaced():
    full = page().encode()
    data = full[: full.rindex("。".encode()) + 1]  # the download stops inside the last 。
    text, codec, note = decode_html(data)
    assert codec == "utf-8"
    assert "\ufffd" not in text
    assert "cut off" in note


def test_undecodable_bytes_never_raise():
    data = b"<html><body><p>" + bytes(range(128, 256)) * 3 + b"</p></body></html>"
    text, codec, note = decode_html(data)
    assert isinstance(text, str) and codec
    assert note


def test_unknown_declared_charset_is_ignored():
    text, codec, note = decode_html(page('<meta charset="x-klingon">').encode("gbk"))
    assert codec == "gb18030"
    assert_clean(text)
    assert "unknown charset" in note


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("GB2312", "gb18030"),
        ("gbk", "gb18030"),
        ("x-gbk", "gb18030"),
        ("GB18030", "gb18030"),
        ("UTF8", "utf-8"),
        ("iso-8859-1", "cp1252"),
        ("Big5", "big5hkscs"),
        ("nonsense-charset", None),
        (None, None),
    ],
)
def test_normalize_charset(label, codec):
    assert normalize_charset(label) == codec


def test_declaration_sniffing():
    assert charset_from_content_type("text/html; charset=GBK") == "GBK"
    assert charset_from_content_type("text/html") is None
    assert (
        sniff_declared_charset(b'<meta http-equiv="Content-Type" content="text/html; charset=gb2312">')
        == "gb2312"
    )
    assert sniff_declared_charset(b"<meta charset='utf-8'>") == "utf-8"
    assert sniff_declared_charset(b'<?xml version="1.0" encoding="GBK"?><html>') == "GBK"
    # the meta tag may come after a long run of scripts
    assert sniff_declared_charset(b"<script>" + b"x" * 20000 + b"</script><meta charset=gbk>") == "gbk"
