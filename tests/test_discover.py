"""Listing-page parsing and crawling, the crawl against a real server on 127.0.0.1."""

from __future__ import annotations

import pytest

from pipeline.discover import crawl_listing, decode_html, issue_hint, parse_listing
from pipeline.fetch import Fetcher, FetchSettings, UrlPolicy
from pipeline.rawstore import FetchManifest, RawStore
from tests.httpserver import Reply, ScriptedServer

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
HTML = {"Content-Type": "text/html"}
FAST = FetchSettings(connect_timeout=1.0, read_timeout=1.0, retries=1, backoff_base=0.01, backoff_max=0.02)
LOOPBACK = UrlPolicy(frozenset({"127.0.0.1"}), allow_private=True)

LISTING = """<!DOCTYPE html>
<html><head>
<meta http-equiv="Content-Type" content="text/html; charset=gb2312">
<title>市政府公报</title></head>
<body>
<div class="nav"><a href="/">首页</a> <a href="/zwgk/">政务公开</a> <a href="#top">回到顶部</a></div>
<ul class="list">
  <li><a href="./202112/P020211231_29.pdf" title="广州市人民政府公报2021年第29期">广州市人民政府公报2021年第29期</a>
      <span>2021-12-31</span></li>
  <li><a href="./202112/P020211231_29.pdf#page=1"><img src="cover29.jpg"></a></li>
  <li><a href="
     ./202112/t20211215_28.html">2021年第28期</a></li>
  <li>2021年第27期 <a href="/files/27.pdf">下载</a></li>
  <li><a href="http://127.0.0.2/x.pdf">2021年第26期</a></li>
  <li><a href="file:///etc/passwd.pdf">2021年第25期</a></li>
  <li><a href="javascript:void(0)">2021年第24期</a></li>
  <li><a href="./202111/t2021_23.html" title="广州市人民政府公报2021年第二十三期（总第700期）">广州市人民政府公报2021年第二十...</a></li>
  <li><a href="./202111/report.html">关于印发某某办法的通知</a></li>
</ul>
<div class="page">
  <a href="index_1.html">下一页</a> <a href="index_1.html">2</a> <a href="index_2.html">3</a>
  <a href="index_2.html">尾页</a> <a href="/gb/2021/index.html">2021</a>
</div>
<script>createPageHTML(4, 0, "index", "html");</script>
</body></html>
"""


def test_parse_listing_items_and_pages():
    listing = parse_listing(LISTING, "http://www.example.gov.cn/gb/index.html")
    got = [(i.url, i.title, i.issue_hint) for i in listing.items]
    base = "http://www.example.gov.cn"
    assert got == [
        (f"{base}/gb/202112/P020211231_29.pdf", "广州市人民政府公报2021年第29期", "2021-29"),
        (f"{base}/gb/202112/t20211215_28.html", "2021年第28期", "2021-28"),
        (f"{base}/files/27.pdf", "2021年第27期", "2021-27"),
        ("http://127.0.0.2/x.pdf", "2021年第26期", "2021-26"),
        ("file:///etc/passwd.pdf", "2021年第25期", "2021-25"),
        (f"{base}/gb/202111/t2021_23.html", "广州市人民政府公报2021年第二十三期（总第700期）", "2021-23"),
    ]
    assert all(i.found_on == "http://www.example.gov.cn/gb/index.html" for i in listing.items)
    assert listing.next_pages == [
        f"{base}/gb/index_1.html",
        f"{base}/gb/index_2.html",
        f"{base}/gb/index_3.html",
    ]


def test_gb_encoded_bytes_decode():
    data = LISTING.encode("gb18030")
    listing = parse_listing(data, "http://www.example.gov.cn/gb/index.html")
    assert listing.items[0].title == "广州市人民政府公报2021年第29期"
    # no declaration at all: still read as GB18030 once UTF-8 fails
    bare = "<html><body><a href='a.pdf'>2022年第1期</a></body></html>".encode("gbk")
    assert parse_listing(bare, "http://h/").items[0].title == "2022年第1期"
    # a page that claims GBK but is UTF-8
    utf8 = "<meta charset='gbk'><p>公报</p>".encode()
    assert "公报" in decode_html(utf8, "text/html; charset=gbk")
    assert decode_html("\ufeff公报".encode()) == "公报"


def test_parse_edge_cases():
    assert parse_listing(b"", "http://h/").items == []
    xml_decl = '<?xml version="1.0" encoding="utf-8"?><html><body><a href="1.pdf">第1期</a></body></html>'
    assert [i.url for i in parse_listing(xml_decl, "http://h/d/").items] == ["http://h/d/1.pdf"]
    based = '<html><head><base href="http://cdn.h/files/"></head><body><a href="x.pdf">x</a></body></html>'
    assert parse_listing(based, "http://h/").items[0].url == "http://cdn.h/files/x.pdf"
    query_pages = '<a href="list.jsp?page=2">2</a><a href="list.jsp?page=3">下一页 &gt;</a><a rel="next" href="n">more</a>'
    assert parse_listing(query_pages, "http://h/list.jsp?page=1").next_pages == [
        "http://h/list.jsp?page=2",
        "http://h/list.jsp?page=3",
        "http://h/n",
    ]


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("2021年第29期", "2021-29"),
        ("广州市人民政府公报 2021 年 第 3 期", "2021-3"),
        ("2021年29期", "2021-29"),
        ("2020第二十九期", "2020-29"),
        ("2019年第十期（总第512期）", "2019-10"),
        ("2018年度第2期", "2018-2"),
        ("第29期", None),
        ("2021年12月31日", None),
        ("", None),
    ],
)
def test_issue_hint(text, hint):
    assert issue_hint(text) == hint


# -- crawling --------------------------------------------------------------------------


def page(*links: str, next_page: str | None = None) -> bytes:
    items = "".join(f"<li>{link}</li>" for link in links)
    pager = f'<a href="{next_page}">下一页</a>' if next_page else ""
    return f"<html><body><ul>{items}</ul><div>{pager}</div></body></html>".encode()


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def other_host():
    srv = ScriptedServer("127.0.0.2")  # all of 127.0.0.0/8 is loopback on Linux
    with srv:
        srv.default = Reply(200, page('<a href="/y.pdf">2021年第1期</a>'), HTML)
        yield srv


@pytest.fixture
def fetcher(tmp_path):
    with Fetcher(RawStore(tmp_path / "raw"), LOOPBACK, FAST, manifest=FetchManifest()) as f:
        yield f


def script_site(server: ScriptedServer, other: ScriptedServer) -> None:
    server.route(
        "/gb/index.html",
        Reply(
            200,
            page(
                '<a href="2021/29.pdf">2021年第29期</a>',
                '<a href="2021/28.html">2021年第28期</a>',
                f'<a href="{other.url("/x.pdf")}">2021年第27期</a>',
                '<a href="file:///etc/passwd.pdf">2021年第26期</a>',
                next_page="index_1.html",
            )
            + f'<a href="{other.url("/gb/index_9.html")}">下一页</a>'.encode(),
            HTML,
        ),
    )
    server.route(
        "/gb/index_1.html",
        Reply(
            200,
            page(
                '<a href="2021/25.pdf">2021年第25期</a>',
                '<a href="2021/29.pdf">29</a>',
                next_page="index_2.html",
            ),
            HTML,
        ),
    )
    server.route("/gb/index_2.html", Reply(200, page('<a href="2021/24.pdf">2021年第24期</a>'), HTML))
    server.route("/gb/2021/28.html", Reply(200, page('<a href="/files/28.pdf">点击下载</a>'), HTML))


def test_crawl_follows_pages_and_issue_pages(server, other_host, fetcher):
    script_site(server, other_host)
    crawl = crawl_listing(fetcher, server.url("/gb/index.html"))
    got = [(i.url, i.issue_hint, i.found_on) for i in crawl.items]
    assert got == [
        (server.url("/gb/2021/29.pdf"), "2021-29", server.url("/gb/index.html")),
        (server.url("/files/28.pdf"), "2021-28", server.url("/gb/2021/28.html")),
        (server.url("/gb/2021/25.pdf"), "2021-25", server.url("/gb/index_1.html")),
        (server.url("/gb/2021/24.pdf"), "2021-24", server.url("/gb/index_2.html")),
    ]
    assert crawl.items[1].title == "2021年第28期"
    [refused] = crawl.refused  # the page's refused links: one row with a count and examples
    assert (refused.url, refused.found_on, refused.count) == (
        server.url("/gb/index.html#refused-links"), server.url("/gb/index.html"), 3)
    assert refused.examples == (
        f"{other_host.url('/gb/index_9.html')} (host not allowed: 127.0.0.2)",
        f"{other_host.url('/x.pdf')} (host not allowed: 127.0.0.2)",
        "file:///etc/passwd.pdf (scheme not allowed: file)",
    )
    assert refused.reason.startswith("3 links refused: host not allowed (2), scheme not allowed (1); e.g. ")
    assert other_host.requests == []
    assert [r.path for r in server.requests] == [
        "/gb/index.html",
        "/gb/index_1.html",
        "/gb/index_2.html",
        "/gb/2021/28.html",
    ]  # listing and issue pages only: the PDFs are for the caller to fetch
    assert len(crawl.pages) == 4 and crawl.errors == []
    assert len(fetcher.manifest) == 4


def test_crawl_respects_max_pages_and_records_errors(server, other_host, fetcher):
    script_site(server, other_host)
    server.route("/gb/index_1.html", Reply(500))
    crawl = crawl_listing(fetcher, server.url("/gb/index.html"), max_pages=1, follow_items=False)
    assert [r.path for r in server.requests] == ["/gb/index.html"]
    assert server.url("/gb/2021/28.html") in [i.url for i in crawl.items]  # not followed

    crawl = crawl_listing(fetcher, server.url("/gb/index.html"), follow_items=False)
    assert [e.error for e in crawl.errors] == ["http 500"]
    assert server.url("/gb/2021/24.pdf") not in [i.url for i in crawl.items]  # behind the broken page


def test_crawl_issue_page_redirecting_away_is_refused(server, other_host, fetcher):
    server.route("/gb/index.html", Reply(200, page('<a href="/go/1.html">2021年第1期</a>'), HTML))
    server.route("/go/1.html", Reply(302, headers={"Location": other_host.url("/issue.html")}))
    crawl = crawl_listing(fetcher, server.url("/gb/index.html"))
    assert crawl.items == []
    assert crawl.refused[0].url == server.url("/go/1.html")
    assert crawl.refused[0].reason.startswith("redirect refused: host not allowed")
    assert other_host.requests == []


def test_crawl_uses_conditional_get_on_revisit(server, fetcher):
    server.route(
        "/gb/index.html",
        Reply(200, page('<a href="a.pdf">2021年第1期</a>'), HTML | {"ETag": '"l1"'}),
        Reply(304),
    )
    first = crawl_listing(fetcher, server.url("/gb/index.html"))
    again = crawl_listing(fetcher, server.url("/gb/index.html"))
    assert again.pages[0].not_modified
    assert [i.url for i in again.items] == [i.url for i in first.items] == [server.url("/gb/a.pdf")]
