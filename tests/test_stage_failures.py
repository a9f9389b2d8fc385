"""A failing later stage costs a warning naming the stage, never the document: every stage of
the PDF and HTML paths is made to fail in turn (``GAZETTE_FAULTS``, ``pipeline/faults.py``)."""

from __future__ import annotations

import pytest

from gazette.cli import main
from pipeline import faults
from pipeline.ingest import process_source
from pipeline.storage import Store
from tests.conftest import CORPUS, SAMPLE_PDF

LAW_PAGE = CORPUS / "html" / "law_supervision_law_2018_html_chapters_articles.html"
PHRASE = "为缓解中小微企业融资难题"  # body text of the sample's first document


@pytest.fixture(scope="module")
def sample():
    return process_source(SAMPLE_PDF)


def _with_fault(monkeypatch, spec: str, path=SAMPLE_PDF):
    monkeypatch.setenv(faults.ENV, spec)
    return process_source(path)


def _all_text(result) -> str:
    return "\n".join(s.text for d in result.documents for s in d.sections)


def _stage_notes(result, stage: str) -> list[str]:
    return [w for d in result.documents for w in d.warnings if w.startswith(f"{stage} stage failed")]


@pytest.mark.parametrize("stage", ["clean", "tables", "layout", "issue"])
def test_an_input_wide_stage_failure_keeps_the_text(monkeypatch, sample, stage):
    got = _with_fault(monkeypatch, f"{stage}=raise")
    assert got.errors == [] and got.documents
    assert all(_stage_notes(got, stage) for _ in got.documents)  # every document says which stage failed
    assert "InjectedFault" in _stage_notes(got, stage)[0]
    text = _all_text(got).replace("\n", "")
    assert PHRASE in text or PHRASE[:6] in text  # the body text is there (lines may break it without layout)


def test_without_tables_the_table_text_stays_in_the_body(monkeypatch):
    got = _with_fault(monkeypatch, "tables=raise")
    assert all(d.tables == [] for d in got.documents)
    assert "广州金融发展服务中" in _all_text(got)  # a 附件 table cell, now body text


def test_without_cleaning_the_furniture_stays_visible(monkeypatch, sample):
    got = _with_fault(monkeypatch, "clean=raise")
    assert not any(r.reason == "watermark" for r in got.removed)
    assert "本文与正式文件同等效力" in _all_text(got)  # nothing was dropped unseen: it is in the text


@pytest.mark.parametrize("stage", ["outline", "captions", "toc"])
def test_a_per_document_stage_failure_keeps_the_document(monkeypatch, sample, stage):
    got = _with_fault(monkeypatch, f"{stage}=raise")
    assert got.errors == []
    assert [d.doc_number for d in got.documents] == [d.doc_number for d in sample.documents]
    assert [len(d.tables) for d in got.documents] == [len(d.tables) for d in sample.documents]
    assert len(_stage_notes(got, stage)) == len([d for d in sample.documents if _runs(stage, d)])
    if stage == "outline":  # one front section holding all the text
        assert all([s.level for s in d.sections] == ["front"] for d in got.documents)
        assert PHRASE in _all_text(got)
    if stage == "captions":
        assert all(t.caption is None for d in got.documents for t in d.tables)
        assert [s.title for d in got.documents for s in d.sections] == [s.title for d in sample.documents for s in d.sections]
    if stage == "toc":
        assert all(d.toc_checks == [] for d in got.documents)


def _runs(stage: str, doc) -> bool:
    """Does ``stage`` run for this document (captions only where there are tables)?"""
    return bool(doc.tables) if stage == "captions" else True


@pytest.mark.parametrize("stage", ["outline", "toc", "issue"])
def test_an_html_stage_failure_keeps_the_page(monkeypatch, stage):
    got = _with_fault(monkeypatch, f"{stage}=raise", LAW_PAGE)
    assert got.errors == [] and len(got.documents) == 1
    assert _stage_notes(got, stage)
    assert "为了深化国家监察体制改革" in _all_text(got)


def test_the_cli_writes_a_document_whose_outline_failed(tmp_path, inject_faults):
    inject_faults("outline=raise")  # in the parse service's processes too
    out = tmp_path / "out"
    assert main(["ingest", str(SAMPLE_PDF), "--out", str(out), "--raw", "", "-q"]) == 0
    docs = Store(out).read("documents").to_pylist()
    assert len(docs) == 2 and all(any(w.startswith("outline stage failed") for w in d["warnings"]) for d in docs)
    sections = Store(out).read("sections").to_pylist()
    assert {s["level"] for s in sections} == {"front"} and any(PHRASE in s["text"] for s in sections)
