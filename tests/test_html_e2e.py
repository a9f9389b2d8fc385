"""HTML pages and front-matter posts through the whole path into the shared datasets."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from gazette.cli import main
from pipeline.storage import Store
from tests.conftest import CORPUS, SEED_POST

MOJIBAKE = ("\ufffd", "鈥", "锛", "Ã", "â€", "ç»")


@pytest.fixture(scope="module")
def html_out(tmp_path_factory) -> Path:
    inputs = tmp_path_factory.mktemp("in")
    shutil.copy(SEED_POST, inputs / "seed-post.md")
    out = tmp_path_factory.mktemp("html") / "out"
    args = ["ingest", str(inputs), str(CORPUS / "html"), str(CORPUS / "finews" / "posts"), "--out", str(out), "--raw", "", "-q"]
    assert main(args) == 0
    return out


def _doc(out: Path, name: str) -> dict:
    return next(d for d in Store(out).read("documents").to_pylist() if d["source"].endswith(name))


def _sections(out: Path, doc_id: str) -> list[dict]:
    return sorted((s for s in Store(out).read("sections").to_pylist() if s["doc_id"] == doc_id), key=lambda s: s["seq"])


def test_seed_post(html_out):
    doc = _doc(html_out, "seed-post.md")
    assert doc["kind"] == "html"
    assert doc["title"] == "广州-梅州签署金融合作协议 ：双方将加强金融科技创新与监管等领域的合作"
    cst = dt.timezone(dt.timedelta(hours=8))
    assert doc["published_at"] == dt.datetime(2022, 5, 26, 14, 18, 58, tzinfo=cst)
    assert doc["source_name"] == "21世纪经济报道" and doc["categories"] == ["21shijijingjibaodao"]
    assert doc["original_url"].startswith("http://finews.zning.xyz/")
    sections = _sections(html_out, doc["doc_id"])
    items = [s["title"] for s in sections if s["level"] == "item"]
    assert items == ["推动两市各类金融机构互联互通", "开展多层次资本市场开发合作", "促进金融机构服务实体经济",
                     "促进绿色金融服务绿色发展", "共同打造产业共建金融生态圈", "加大金融科技创新与监管合作",
                     "联合开展金融投资促进活动", "深化金融人才培养交流合作"]
    assert all("返回" not in s["text"] and "文章来源" not in s["text"] for s in sections)
    removed = {r["reason"] for r in Store(html_out).read("removed").to_pylist() if r["doc_id"] == doc["doc_id"]}
    assert {"back_link", "source_line"} <= removed


def test_every_page_and_post_ingests_cleanly(html_out):
    docs = Store(html_out).read("documents").to_pylist()
    expected = len(list((CORPUS / "html").glob("*.html"))) + len(list((CORPUS / "finews" / "posts").glob("*.md"))) + 1
    assert len(docs) == expected and Store(html_out).read("errors").num_rows == 0
    texts = [d["title"] or "" for d in docs] + [s["text"] for s in Store(html_out).read("sections").to_pylist()]
    assert not [t for t in texts if any(m in t for m in MOJIBAKE)]
    assert _doc(html_out, "meta_gb2312_bytes_utf8.html")["title"] == "女儿出嫁，郑板桥画了几笔兰花当嫁妆"


def test_law_page_chapters_and_articles(html_out):
    doc = _doc(html_out, "law_supervision_law_2018_html_chapters_articles.html")
    sections = _sections(html_out, doc["doc_id"])
    chapters = [s for s in sections if s["level"] == "chapter"]
    assert [s["number"] for s in chapters] == list(range(1, 10))
    assert chapters[0]["title"] == "总则"
    articles = [s for s in sections if s["level"] == "article"]
    assert [a["number"] for a in articles] == list(range(1, len(articles) + 1)) and len(articles) >= 60
    by_seq = {s["seq"]: s for s in sections}
    assert all(by_seq[a["parent_seq"]]["level"] in ("chapter", "section") for a in articles)
    assert all(a["text"] for a in articles)
    assert not Store(html_out).read("tables").to_pylist() or all(
        t["doc_id"] != doc["doc_id"] for t in Store(html_out).read("tables").to_pylist())


def test_gazette_document_as_a_web_page_keeps_its_header_fields(tmp_path):
    page = tmp_path / "notice.html"
    page.write_text(
        "<html><head><meta charset='utf-8'><title>通知_政府公报</title></head><body><div class='nav'><a href='/'>首页</a></div>"
        "<div class='content'><p>某市人民政府办公厅文件</p><p>某府办〔2023〕12号</p><h2>某市人民政府办公厅关于印发某某管理办法的通知</h2>"
        "<p>各区人民政府，市政府各部门：</p><p>《某某管理办法》已经市人民政府同意，现印发给你们，请认真组织实施。实施中遇到的问题请及时反映。</p>"
        "<p>某市人民政府办公厅</p><p>2023年5月6日</p><p>第一章 总则</p><p>第一条 为了加强管理，根据有关法律法规，结合本市实际，制定本办法。</p>"
        "<p>公开方式：主动公开</p></div></body></html>", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["ingest", str(page), "--out", str(out), "--raw", "", "-q"]) == 0
    doc = Store(out).read("documents").to_pylist()[0]
    assert (doc["kind"], doc["doc_number"], doc["issuer"], str(doc["signed_date"]), doc["publication"]) == (
        "html", "某府办〔2023〕12号", "某市人民政府办公厅", "2023-05-06", "主动公开")
    assert [s["level"] for s in Store(out).read("sections").to_pylist()].count("article") == 1


def test_a_source_popup_is_not_the_source(html_out):
    """和讯's page has a <div class="sourcePopwin"> saying 我已授权: a dialog, not the article's source."""
    assert _doc(html_out, "news_hexun_2019-09-26_mot_jingjinji.html")["source_name"] != "我已授权"
