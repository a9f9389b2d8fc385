"""Real Prefect flows (temporary API, SQLite) against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import pyarrow.compute as pc
import pytest
from prefect.client.orchestration import get_client

import flows.pipeline_flows as pf
import pipeline.rows
from gazette.cli import main
from pipeline.fetch import FetchSettings
from pipeline.storage import Store
from tests.conftest import small_issue
from tests.httpserver import Reply, ScriptedServer

pytestmark = pytest.mark.usefixtures("prefect_server")

HTML = {"Content-Type": "text/html; charset=utf-8"}


def pdf_headers(etag: str) -> dict:
    return {"Content-Type": "application/pdf", "ETag": etag}


def article(n: int) -> bytes:
    sentence = f"这是第{n}篇新闻的正文段落，内容足够长以便被识别为正文。"
    paras = "".join(f"<p>{sentence * 3}</p>" for _ in range(4))
    return (f"<html><head><title>新闻{n}_测试网</title><meta property='og:title' content='测试新闻标题{n}'></head>"
            f"<body><nav><a href='/'>首页</a></nav><article><h1>测试新闻标题{n}</h1>"
            f"<p>2022-05-26 14:18 来源：测试日报</p>{paras}<p>一、第一部分</p><p>{'内容' * 40}</p></article>"
            f"<footer>版权所有</footer></body></html>").encode()


def listing(srv: ScriptedServer) -> bytes:
    links = [("/gz/2022-1.pdf", "2022年第1期"), ("/gz/2022-2.pdf", "2022年第2期"), ("/gz/2022-3.pdf", "2022年第3期"),
             ("/gz/2022-4.pdf", "2022年第4期"), ("/gz/slow.pdf", "2022年第5期"), ("/about.html", "关于我们"),
             ("http://127.0.0.2/evil.pdf", "2022年第6期"), ("file:///etc/passwd", "2022年第7期"),
             ("http://other.example.org/x.pdf", "2022年第8期")]
    items = "".join(f'<li><a href="{href}">{title}</a></li>' for href, title in links)
    return f"<html><body><h1>市政府公报</h1><ul>{items}</ul></body></html>".encode()


@pytest.fixture
def site(pdf_factory):
    pdf1 = pdf_factory(small_issue(1), "i1.pdf").read_bytes()
    pdf2 = pdf_factory(small_issue(2), "i2.pdf").read_bytes()
    with ScriptedServer() as srv:
        srv.route("/gz/index.html", Reply(200, listing(srv), HTML))
        srv.route("/gz/2022-1.pdf", Reply(500), Reply(200, pdf1, pdf_headers('"one"')), Reply(304, b"", {"ETag": '"one"'}))
        srv.route("/gz/2022-2.pdf", Reply(200, pdf2, pdf_headers('"two"')), Reply(304, b"", {"ETag": '"two"'}))
        srv.route("/gz/2022-3.pdf", Reply(404, b"gone"))
        srv.route("/gz/2022-4.pdf", Reply(200, pdf2[: len(pdf2) // 2], pdf_headers('"x"'), content_length=len(pdf2)))
        srv.route("/gz/slow.pdf", Reply(200, pdf1, pdf_headers('"s"'), delay=3.0))
        srv.route("/news/a1.html", Reply(200, article(1), {**HTML, "ETag": '"a1"'}), Reply(304, b"", {"ETag": '"a1"'}))
        srv.route("/news/a2.html", Reply(200, article(2), {**HTML, "ETag": '"a2"'}), Reply(304, b"", {"ETag": '"a2"'}))
        yield srv, (pdf1, pdf2)


FAST = FetchSettings(read_timeout=0.5, connect_timeout=0.5, retries=2, backoff_base=0.01, backoff_max=0.05)


def test_discover_ingest_then_rerun_then_reprocess(site, tmp_path, monkeypatch):
    srv, (pdf1, pdf2) = site
    out, raw = str(tmp_path / "out"), str(tmp_path / "raw")
    run = pf.discover_and_ingest(srv.url("/gz/index.html"), out=out, raw=raw, allow_private=True, fetch_settings=FAST)
    articles = [srv.url("/news/a1.html"), srv.url("/news/a2.html")]
    assert pf.ingest(articles, out=out, raw=raw, allow_private=True)["documents"] == 2
    store = Store(out)
    docs = store.read("documents")
    numbers = set(docs.column("doc_number").to_pylist())
    assert {"测府办〔2022〕1号", "测府办〔2022〕2号"} <= numbers
    assert pc.sum(pc.equal(docs.column("kind"), "html")).as_py() == 2
    errors = store.read("errors").to_pylist()
    sources = {e["source"]: e for e in errors}
    assert "http 404" in sources[srv.url("/gz/2022-3.pdf")]["message"]
    assert "truncated" in sources[srv.url("/gz/2022-4.pdf")]["message"]
    assert "timeout" in sources[srv.url("/gz/slow.pdf")]["message"]
    [refused] = [r for r in store.read("fetches").to_pylist() if r["refused"]]  # one row for the page's links
    assert refused["url"] == srv.url("/gz/index.html#refused-links")
    assert all(url in refused["refused"] for url in ("http://127.0.0.2/evil.pdf", "file:///etc/passwd",
                                                     "http://other.example.org/x.pdf"))
    assert not [r for r in srv.requests if "evil" in r.path or "passwd" in r.path]
    assert len(srv.requests_for("/gz/2022-1.pdf")) == 2  # 500, then 200
    # nothing truncated reached the raw store
    from pipeline.rawstore import RawStore

    blobs = [p.read_bytes() for p in RawStore(raw).iter_blobs()]
    assert all(b.rstrip().endswith(b"%%EOF") for b in blobs if b.startswith(b"%PDF"))
    assert run["documents"] == docs.num_rows - 2
    with get_client(sync_client=True) as client:  # the REST filter, as the UI lists artifacts
        response = client._client.post("/artifacts/filter", json={"limit": 200, "offset": 0, "sort": "CREATED_DESC"})
        keys = {a["key"] for a in response.json()}
    assert {"discover-and-ingest-summary", "toc-check", "toc-report", "ingest-summary"} <= keys

    sections_before = store.read("sections").num_rows
    parsed = []
    real = pf.parse_isolated
    monkeypatch.setattr(pf, "parse_isolated", lambda *a, **k: parsed.append(a) or real(*a, **k))
    second = pf.discover_and_ingest(srv.url("/gz/index.html"), out=out, raw=raw, allow_private=True, fetch_settings=FAST)
    assert second["documents"] == 0 and second["skipped"] == 2  # both issues unchanged: 304, nothing parsed
    assert srv.requests_for("/gz/2022-2.pdf")[-1].headers.get("if-none-match") == '"two"'
    pf.ingest(articles, out=out, raw=raw, allow_private=True)  # 304 again; parse is a cache hit
    assert srv.requests_for("/news/a1.html")[-1].headers.get("if-none-match") == '"a1"'
    assert parsed == []  # nothing was parsed again
    assert store.read("documents").num_rows == docs.num_rows
    assert store.read("sections").num_rows == sections_before
    runs = store.read("runs").to_pylist()
    assert sorted(r["flow"] for r in runs) == ["discover_and_ingest"] * 2 + ["ingest"] * 2

    monkeypatch.setattr(pf, "PIPELINE_VERSION", "test-bump")
    monkeypatch.setattr(pipeline.rows, "PIPELINE_VERSION", "test-bump")
    assert main(["reprocess", "--outdated", "--out", out, "--raw", raw]) == 0  # the CLI runs the real flow
    after = store.read("documents")
    assert after.num_rows == docs.num_rows
    assert set(after.column("pipeline_version").to_pylist()) == {"test-bump"}
    assert store.read("sections").num_rows == sections_before
    assert pf.reprocess("outdated", out=out, raw=raw)["documents"] == 0


def _rows(out, name, drop=("processed_at",)):
    table = Store(out).read(name)
    keep = [c for c in table.column_names if c not in drop]
    return sorted(map(str, table.select(keep).to_pylist()))


def test_parse_is_cached_on_content_hash(pdf_factory, tmp_path, monkeypatch):
    """A second output built from the same bytes reuses the persisted parse results."""
    paths = [str(pdf_factory(small_issue(n), f"c{n}.pdf")) for n in (7, 8)]
    pf.ingest(paths, out=str(tmp_path / "a"), raw=str(tmp_path / "raw"))
    parsed = []
    real = pf.parse_isolated
    monkeypatch.setattr(pf, "parse_isolated", lambda *a, **k: parsed.append(a) or real(*a, **k))
    pf.ingest(paths, out=str(tmp_path / "b"), raw=str(tmp_path / "raw"))
    assert parsed == []
    for name in ("documents", "sections", "removed", "toc_checks"):
        assert _rows(tmp_path / "a", name) == _rows(tmp_path / "b", name)


@pytest.mark.slow
def test_dask_runner_matches_default_runner(pdf_factory, tmp_path):
    from pipeline.settings import Settings

    paths = [str(pdf_factory(small_issue(n), f"d{n}.pdf")) for n in (1, 2)]
    pf.ingest(paths, out=str(tmp_path / "a"), raw=str(tmp_path / "raw"))
    # other settings, another cache key: the Dask workers really parse
    dask_ingest = pf.with_runner(pf.ingest, "dask")
    dask_ingest(paths, out=str(tmp_path / "b"), raw=str(tmp_path / "raw"), settings=Settings(max_pages=2999))
    for name in ("documents", "sections", "tables", "removed", "toc_checks"):
        assert _rows(tmp_path / "a", name) == _rows(tmp_path / "b", name)


def test_discover_command_runs_the_flow(pdf_factory, tmp_path, capsys):
    pdf = pdf_factory(small_issue(9), "cli.pdf").read_bytes()
    with ScriptedServer() as srv:
        srv.route("/gz/", Reply(200, b'<ul><li><a href="/gz/9.pdf">2022\xe5\xb9\xb4\xe7\xac\xac9\xe6\x9c\x9f</a></li>'
                                     b'<li><a href="http://elsewhere.example/x.pdf">2022\xe5\xb9\xb4\xe7\xac\xac8\xe6\x9c\x9f</a></li></ul>',
                                HTML))
        srv.route("/gz/9.pdf", Reply(200, pdf, pdf_headers('"nine"')))
        out, raw = str(tmp_path / "out"), str(tmp_path / "raw")
        code = main(["discover", srv.url("/gz/"), "--out", out, "--raw", raw, "--allow-private"])
    assert code == 1  # the link to another host is refused and reported
    assert "1 documents" in capsys.readouterr().out
    assert [d["doc_number"] for d in Store(out).read("documents").to_pylist()] == ["测府办〔2022〕9号"]
    [refused] = [r for r in Store(out).read("fetches").to_pylist() if r["refused"]]
    assert (refused["url"], "http://elsewhere.example/x.pdf" in refused["refused"]) == (srv.url("/gz/#refused-links"), True)


def test_flow_stops_a_document_past_its_time_budget(pdf_factory, tmp_path, inject_faults):
    from pipeline.settings import Settings

    pdf = str(pdf_factory(small_issue(3), "stuck.pdf"))
    inject_faults("parse=hang")  # a document that no budget is long enough for
    result = pf.ingest([pdf], out=str(tmp_path / "out"), raw=str(tmp_path / "raw"),
                       settings=Settings(doc_timeout_s=0.5))
    errors = Store(tmp_path / "out").read("errors").to_pylist()
    assert result["errors"] == 1 and [e["error_type"] for e in errors] == ["timeout"]


def test_corrected_issue_replaces_the_original_and_neither_is_parsed_again(pdf_factory, tmp_path, monkeypatch):
    """Two files of the same issue: the later one's rows stay; the lineage (``inputs``) knows both."""
    original = str(pdf_factory(small_issue(4), "original.pdf"))
    corrected = str(pdf_factory(small_issue(4).replace("请认真组织实施", "请认真贯彻执行"), "corrected.pdf"))
    out, raw = str(tmp_path / "out"), str(tmp_path / "raw")
    pf.ingest([original], out=out, raw=raw)
    pf.ingest([corrected], out=out, raw=raw)
    store = Store(out)
    docs = store.read("documents").to_pylist()
    assert {d["source"] for d in docs} == {corrected}  # one issue, its newer file
    parsed = []
    real = pf.parse_isolated
    monkeypatch.setattr(pf, "parse_isolated", lambda *a, **k: parsed.append(a) or real(*a, **k))
    again = pf.ingest([original, corrected], out=out, raw=raw)
    assert again["skipped"] == 2 and parsed == []
    assert {d["source"] for d in store.read("documents").to_pylist()} == {corrected}
    inputs = {r["source"]: r for r in store.read("inputs").to_pylist()}
    assert set(inputs) == {original, corrected}
    assert inputs[original]["unit_id"] == inputs[corrected]["unit_id"] == docs[0]["unit_id"]
    assert all(r["status"] == "ok" and r["pipeline_version"] == pf.PIPELINE_VERSION for r in inputs.values())


def test_a_timed_out_input_is_tried_again_next_run(pdf_factory, tmp_path, monkeypatch, inject_faults):
    """A time-out is neither cached by the parse task nor counted as known input."""
    from pipeline.settings import Settings

    pdf = str(pdf_factory(small_issue(5), "retry.pdf"))
    out, raw = str(tmp_path / "out"), str(tmp_path / "raw")
    parsed = []
    real = pf.parse_isolated
    monkeypatch.setattr(pf, "parse_isolated", lambda *a, **k: parsed.append(a) or real(*a, **k))
    tight = Settings(doc_timeout_s=0.5)
    inject_faults("parse=hang")  # the document cannot finish within any budget
    assert pf.ingest([pdf], out=out, raw=raw, settings=tight)["errors"] == 1
    assert pf.ingest([pdf], out=out, raw=raw, settings=tight)["errors"] == 1
    assert len(parsed) == 2  # the same cache key, parsed again: and a time-out is not retried within a run
    inject_faults("")  # the document can finish again
    second = pf.ingest([pdf], out=out, raw=raw)
    assert second["errors"] == 0 and second["documents"] == 1
    store = Store(out)
    assert store.read("errors").num_rows == 0  # the input's error row is replaced by its documents
    assert [r["status"] for r in store.read("inputs").to_pylist()] == ["ok"]


def test_a_dead_worker_is_retried_once_within_the_run(pdf_factory, tmp_path, monkeypatch):
    from pipeline.ingest import failed_result

    pdf = str(pdf_factory(small_issue(27), "dies-once.pdf"))  # bytes no other test parses: no cache hit
    calls = []
    real = pf.parse_isolated

    def dies_first(path, source, settings=None):
        calls.append(source)
        if len(calls) == 1:
            return failed_result(source, None, "pipeline", "worker_died", "worker killed by signal 9 (out of memory?)")
        return real(path, source, settings)

    monkeypatch.setattr(pf, "parse_isolated", dies_first)
    result = pf.ingest([pdf], out=str(tmp_path / "out"), raw=str(tmp_path / "raw"))
    assert calls == [pdf, pdf] and result["errors"] == 0 and result["documents"] == 1
