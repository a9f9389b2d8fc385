"""Fetcher, URL policy and raw store, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import email.utils
import ipaddress
import threading
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.fetch import USER_AGENT, Fetcher, FetchResult, FetchSettings, UrlPolicy
from pipeline.rawstore import FetchManifest, RawStore, sniff_ext
from pipeline.schema import FETCHES
from tests.httpserver import Reply, ScriptedServer

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PDF_HEADERS = {"Content-Type": "application/pdf"}
FAST = FetchSettings(
    connect_timeout=1.0,
    read_timeout=1.0,
    retries=2,
    backoff_base=0.01,
    backoff_max=0.05,
    retry_after_max=3.0,
)
LOOPBACK = UrlPolicy(frozenset({"127.0.0.1"}), allow_private=True)


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def store(tmp_path):
    return RawStore(tmp_path / "raw")


@pytest.fixture
def fetcher(store):
    with Fetcher(store, LOOPBACK, FAST) as f:
        yield f


def blobs(store: RawStore) -> list:
    return list(store.iter_blobs())


# -- retries and errors -----------------------------------------------------------


def test_500_then_200_is_retried(server, fetcher, store):
    server.route("/a.pdf", Reply(500), Reply(200, PDF, PDF_HEADERS))
    result = fetcher.fetch(server.url("/a.pdf"))
    assert result.ok and result.error is None
    assert result.status == 200
    assert len(server.requests_for("/a.pdf")) == 2
    assert result.path.read_bytes() == PDF
    assert result.path == store.path_for(result.sha256)
    assert result.path.name == f"{result.sha256}.pdf"
    assert result.bytes == len(PDF)
    assert result.fetched_at.tzinfo is not None


def test_persistent_503_gives_error_after_retries(server, fetcher):
    server.route("/a.pdf", Reply(503))
    result = fetcher.fetch(server.url("/a.pdf"))
    assert result.error == "http 503" and result.sha256 is None
    assert len(server.requests_for("/a.pdf")) == 1 + FAST.retries


def test_429_honours_retry_after_seconds(server, fetcher):
    server.route("/a.pdf", Reply(429, headers={"Retry-After": "1"}), Reply(200, PDF, PDF_HEADERS))
    result = fetcher.fetch(server.url("/a.pdf"))
    first, second = server.requests_for("/a.pdf")
    assert result.ok
    assert second.at - first.at >= 0.9


def test_retry_after_values():
    """Retry-After as delta-seconds or an HTTP-date, never below 0, never above the cap."""
    from pipeline.fetch import _retry_after

    ahead = email.utils.format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    past = email.utils.format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert _retry_after("3600", cap=0.2) == 0.2
    assert _retry_after("1", cap=5) == 1.0
    assert _retry_after(ahead, cap=0.2) == 0.2
    assert _retry_after(past, cap=5) == 0.0
    assert _retry_after("soon", cap=5) is None and _retry_after(None, cap=5) is None


def test_retry_after_http_date_and_cap(server, store):
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    server.route("/d.pdf", Reply(503, headers={"Retry-After": when}), Reply(200, PDF, PDF_HEADERS))
    server.route("/c.pdf", Reply(429, headers={"Retry-After": "3600"}), Reply(200, PDF, PDF_HEADERS))
    settings = FetchSettings(retries=1, backoff_base=0.01, retry_after_max=0.2)
    with Fetcher(store, LOOPBACK, settings) as f:
        assert f.fetch(server.url("/c.pdf")).ok  # an hour, capped to 0.2 s (test_retry_after_values)
        assert f.fetch(server.url("/d.pdf")).ok  # a date ~2 s ahead, capped too
    with Fetcher(store, LOOPBACK, FetchSettings(retries=1, retry_after_max=5)) as f:
        when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
        server.route("/e.pdf", Reply(503, headers={"Retry-After": when}), Reply(200, PDF, PDF_HEADERS))
        assert f.fetch(server.url("/e.pdf")).ok
        first, second = server.requests_for("/e.pdf")
        assert second.at - first.at >= 0.9  # HTTP-date has 1 s resolution


def test_read_timeout_is_recorded_and_fast(server, store):
    server.route("/slow.pdf", Reply(200, PDF, PDF_HEADERS, delay=10))
    settings = FetchSettings(read_timeout=0.2, retries=1, backoff_base=0.01)
    with Fetcher(store, LOOPBACK, settings) as f:
        result = f.fetch(server.url("/slow.pdf"))
    assert result.error.startswith("timeout")  # not the body that comes after 10 s
    assert len(server.requests_for("/slow.pdf")) == 2
    assert blobs(store) == []


def test_404_is_not_retried(server, fetcher, store):
    result = fetcher.fetch(server.url("/missing.pdf"))
    assert result.error == "http 404" and result.status == 404
    assert len(server.requests_for("/missing.pdf")) == 1
    assert blobs(store) == []


def test_truncated_body_is_never_stored(server, fetcher, store):
    server.route("/t.pdf", Reply(200, PDF[:30], PDF_HEADERS, content_length=len(PDF)))
    result = fetcher.fetch(server.url("/t.pdf"))
    assert result.sha256 is None and result.path is None
    assert result.error.startswith("truncated") and result.status == 200
    assert len(server.requests_for("/t.pdf")) == 1 + FAST.retries  # a cut-off may be transient
    assert blobs(store) == []
    assert list(store.tmp_dir.iterdir()) == []  # no leftover partial file


def test_pdf_without_eof_is_rejected(server, fetcher, store):
    server.route("/noeof.pdf", Reply(200, PDF[:-7], PDF_HEADERS))
    server.route("/noeof-nolength", Reply(200, PDF[:-7], PDF_HEADERS, content_length=-1))
    for path in ("/noeof.pdf", "/noeof-nolength"):
        result = fetcher.fetch(server.url(path))
        assert result.error == "truncated: PDF has no %%EOF near the end"
    assert blobs(store) == []


def test_html_where_pdf_expected_is_rejected_without_retry(server, fetcher, store):
    page = b"<!doctype html><html><body>login</body></html>"
    server.route("/doc.pdf", Reply(200, page, {"Content-Type": "text/html; charset=utf-8"}))
    server.route("/doc", Reply(200, page, {"Content-Type": "application/octet-stream"}))
    result = fetcher.fetch(server.url("/doc.pdf"))
    assert result.error.startswith("content_type: expected a PDF")
    assert len(server.requests_for("/doc.pdf")) == 1
    result = fetcher.fetch(server.url("/doc"), expect="pdf")
    assert result.error.startswith("integrity: no %PDF- header")
    assert blobs(store) == []


def test_html_expected_but_pdf_received(server, fetcher):
    server.route("/page", Reply(200, PDF, PDF_HEADERS))
    assert fetcher.fetch(server.url("/page"), expect="html").error.startswith("content_type: expected HTML")


def test_max_bytes_exceeded(server, store):
    big = b"%PDF-1.4\n" + b"x" * 5000 + b"\n%%EOF\n"
    server.route("/big.pdf", Reply(200, big, PDF_HEADERS))
    server.route("/big-stream.pdf", Reply(200, big, PDF_HEADERS, content_length=-1))
    with Fetcher(store, LOOPBACK, FetchSettings(max_bytes=1000, retries=3)) as f:
        declared = f.fetch(server.url("/big.pdf"))
        streamed = f.fetch(server.url("/big-stream.pdf"))
    assert declared.error.startswith("too_large: Content-Length")
    assert streamed.error.startswith("too_large: more than 1000")
    assert len(server.requests) == 2  # not retried
    assert blobs(store) == []


# -- conditional GET ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("validator", "request_header"),
    [
        ({"ETag": '"v1"'}, "if-none-match"),
        ({"Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"}, "if-modified-since"),
    ],
)
def test_304_on_second_fetch(server, fetcher, store, validator, request_header):
    server.route("/a.pdf", Reply(200, PDF, PDF_HEADERS | validator), Reply(304, headers=validator))
    first = fetcher.fetch(server.url("/a.pdf"))
    second = fetcher.fetch(server.url("/a.pdf"), previous=first)
    assert first.ok and not first.not_modified
    assert second.ok and second.not_modified and second.status == 304
    assert second.sha256 == first.sha256 and second.path == first.path
    assert second.content_type == "application/pdf" and second.bytes == len(PDF)
    sent = server.requests_for("/a.pdf")
    assert request_header not in sent[0].headers
    assert sent[1].headers[request_header] == next(iter(validator.values()))
    assert len(blobs(store)) == 1


def test_manifest_drives_conditional_get(server, store, tmp_path):
    server.route("/a.pdf", Reply(200, PDF, PDF_HEADERS | {"ETag": '"v1"'}), Reply(304))
    manifest = FetchManifest()
    with Fetcher(store, LOOPBACK, FAST, manifest=manifest) as f:
        f.fetch(server.url("/a.pdf"))
        manifest.save(tmp_path / "fetches.parquet")
    reloaded = FetchManifest.load(tmp_path / "fetches.parquet")
    with Fetcher(store, LOOPBACK, FAST, manifest=reloaded) as f:
        again = f.fetch(server.url("/a.pdf"))
    assert again.not_modified and again.etag == '"v1"'
    assert server.requests_for("/a.pdf")[1].headers["if-none-match"] == '"v1"'
    assert len(reloaded) == 2 and reloaded.latest(again.url).not_modified


def test_no_conditional_get_when_blob_is_gone(server, fetcher):
    server.route("/a.pdf", Reply(200, PDF, PDF_HEADERS | {"ETag": '"v1"'}))
    stale = FetchResult(url=server.url("/a.pdf"), sha256="0" * 64, etag='"v1"')
    assert fetcher.fetch(server.url("/a.pdf"), previous=stale).ok
    assert "if-none-match" not in server.requests_for("/a.pdf")[0].headers


# -- store --------------------------------------------------------------------------


def test_same_bytes_from_two_urls_stored_once(server, fetcher, store):
    server.route("/a.pdf", Reply(200, PDF, PDF_HEADERS))
    server.route("/copy/b.pdf", Reply(200, PDF, {"Content-Type": "application/octet-stream"}))
    a = fetcher.fetch(server.url("/a.pdf"))
    b = fetcher.fetch(server.url("/copy/b.pdf"))
    assert a.sha256 == b.sha256 and a.path == b.path
    assert blobs(store) == [a.path]


def test_url_path_traversal_does_not_steer_the_store(server, fetcher, store, tmp_path):
    server.default = Reply(200, PDF, PDF_HEADERS)
    for url in (
        server.url("/../../etc/passwd.pdf"),
        server.url("/%2e%2e/%2e%2e/etc/passwd.pdf"),
        server.url("/x/..%2f..%2fescape.html"),
    ):
        result = fetcher.fetch(url)
        assert result.ok
        assert result.path.parent.parent == store.root
        assert result.path.name == f"{result.sha256}.pdf"
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [result.path.name]


def test_user_agent_names_the_project(server, fetcher):
    server.route("/a.pdf", Reply(200, PDF, PDF_HEADERS))
    fetcher.fetch(server.url("/a.pdf"))
    assert server.requests[0].headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("gazette/") and "(+https://example.invalid/gazette)" in USER_AGENT


def test_rawstore_is_immutable_and_validates(store, tmp_path):
    sha, path = store.put_bytes(b"<html><body>x</body></html>", "html")
    assert path.name == f"{sha}.html" and store.read(sha) == b"<html><body>x</body></html>"
    again, same = store.put_bytes(b"<html><body>x</body></html>", "bin")  # ext of the first wins
    assert (again, same) == (sha, path)
    src = tmp_path / "doc.pdf"
    src.write_bytes(PDF)
    psha, ppath = store.put_file(src)
    assert ppath.suffix == ".pdf" and src.exists() and store.has(psha)
    with store.open(psha) as fh:
        assert fh.read() == PDF
    with pytest.raises(ValueError):
        store.put_bytes(b"x", "../../evil")
    with pytest.raises(ValueError):
        store.path_for("../" + "a" * 61)
    assert not store.has("f" * 64)


def test_sniff_ext():
    assert sniff_ext(PDF, "text/html") == "pdf"
    assert sniff_ext(b"\xef\xbb\xbf  <!DOCTYPE html><html>", None) == "html"
    assert sniff_ext(b"# title", "text/markdown; charset=utf-8") == "md"
    assert sniff_ext(b"PK\x03\x04", "application/pdf") == "bin"


def test_manifest_roundtrip(tmp_path):
    now = datetime.now(UTC)
    manifest = FetchManifest(
        [
            FetchResult(url="http://a/x.pdf", sha256="a" * 64, status=200, bytes=5, fetched_at=now),
            FetchResult(url="http://a/x.pdf", error="http 503", status=503, fetched_at=now + timedelta(1)),
            FetchResult(url="file:///etc/passwd", refused="scheme not allowed: file", fetched_at=now),
        ]
    )
    table = manifest.to_table()
    assert table.schema == FETCHES and table.num_rows == 3
    manifest.save(tmp_path / "m" / "fetches.parquet")
    loaded = FetchManifest.load(tmp_path / "m")
    assert loaded.to_table().equals(table)
    assert loaded.latest("http://a/x.pdf").sha256 == "a" * 64
    assert loaded.latest("http://a/x.pdf", successful=False).error == "http 503"
    assert len(FetchManifest.load(tmp_path / "nothing-here")) == 0


# -- safety -------------------------------------------------------------------------


@pytest.fixture
def other_host():
    """A second live server on 127.0.0.2, so 'no request was made' means something."""
    srv = ScriptedServer("127.0.0.2")  # all of 127.0.0.0/8 is loopback on Linux
    with srv:
        srv.default = Reply(200, PDF, PDF_HEADERS)
        yield srv


def test_refused_urls_make_no_request(server, fetcher, other_host):
    urls = [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x.pdf",
        "data:application/pdf;base64,JVBERi0=",
        "javascript:alert(1)",
        other_host.url("/x.pdf"),
        f"http://localhost:{server.port}/x.pdf",
        f"http://user@localhost:{server.port}/x.pdf",
    ]
    for url in urls:
        result = fetcher.fetch(url)
        assert result.refused and result.sha256 is None and result.status is None, url
    assert server.requests == [] and other_host.requests == []
    # the other host is reachable: policy alone kept us away
    both = UrlPolicy(frozenset({"127.0.0.1", "127.0.0.2"}), allow_private=True)
    with Fetcher(fetcher.store, both, FAST) as f:
        assert f.fetch(other_host.url("/x.pdf")).ok


def test_redirects_are_followed_and_checked_each_hop(server, fetcher, other_host):
    server.route("/old.pdf", Reply(301, headers={"Location": "/mid"}))
    server.route("/mid", Reply(302, headers={"Location": server.url("/new.pdf")}))
    server.route("/new.pdf", Reply(200, PDF, PDF_HEADERS))
    ok = fetcher.fetch(server.url("/old.pdf"))
    assert ok.ok and ok.final_url == server.url("/new.pdf")

    server.route("/away", Reply(302, headers={"Location": other_host.url("/x.pdf")}))
    server.route("/local", Reply(302, headers={"Location": "file:///etc/passwd"}))
    away = fetcher.fetch(server.url("/away"))
    local = fetcher.fetch(server.url("/local"))
    assert away.refused.startswith("redirect refused: host not allowed: 127.0.0.2")
    assert away.final_url == other_host.url("/x.pdf")
    assert local.refused == "redirect refused: scheme not allowed: file"
    assert other_host.requests == []


def test_redirect_loop_is_bounded(server, fetcher):
    server.route("/loop", Reply(302, headers={"Location": "/loop"}))
    result = fetcher.fetch(server.url("/loop"))
    assert result.error.startswith("too many redirects")
    assert len(server.requests_for("/loop")) == FAST.max_redirects + 1


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.2",
        "0.0.0.0",
        "[::1]",
        "[::]",
        "169.254.169.254",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "[fe80::1]",
        "[fc00::1]",
        "[ff02::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:10.0.0.1]",
        "[2002:7f00:1::]",
        "[64:ff9b::a00:1]",
        "localhost",
        "2130706433",
    ],
)
def test_non_public_hosts_refused_even_when_allowed(host):
    bare = host.strip("[]")
    policy = UrlPolicy(frozenset({bare}))
    reason = policy.check(f"http://{host}/x.pdf")
    assert reason is not None and reason.startswith("non-public address"), reason


def test_public_hosts_and_wildcards():
    policy = UrlPolicy(frozenset({"93.184.216.34", "*.gov.example", "[2606:4700::1111]"}))
    assert policy.check("https://93.184.216.34/a.pdf") is None
    assert policy.check("http://[2606:4700::1111]/a.pdf") is None
    assert policy.check("http://8.8.8.8/a.pdf") == "host not allowed: 8.8.8.8"
    assert policy.check("http://evilgov.example/").startswith("host not allowed")
    assert UrlPolicy().check("http://93.184.216.34/") == "host not allowed: 93.184.216.34"
    assert ipaddress.ip_address("93.184.216.34").is_global


# -- politeness ---------------------------------------------------------------------


def test_per_host_concurrency_limit(server, store):
    server.default = Reply(200, PDF, PDF_HEADERS, delay=0.2)
    with Fetcher(store, LOOPBACK, FetchSettings(per_host=2)) as f:
        threads = [threading.Thread(target=f.fetch, args=(server.url(f"/{i}.pdf"),)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(server.requests) == 6
    assert server.max_in_flight == 2


def test_min_delay_between_requests_to_a_host(server, store):
    server.default = Reply(200, PDF, PDF_HEADERS)
    with Fetcher(store, LOOPBACK, FetchSettings(per_host=4, min_delay=0.15)) as f:
        threads = [threading.Thread(target=f.fetch, args=(server.url(f"/{i}.pdf"),)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    times = sorted(r.at for r in server.requests)
    assert all(b - a >= 0.1 for a, b in zip(times, times[1:], strict=False))


def test_fetch_raises_only_for_programming_errors(fetcher):
    with pytest.raises(ValueError):
        fetcher.fetch("http://127.0.0.1/x", expect="docx")
    assert fetcher.fetch("http://[::1/").refused.startswith("invalid url")
    assert fetcher.fetch("http:///x").refused == "no host"
    assert fetcher.fetch("").refused == "scheme not allowed: (none)"
