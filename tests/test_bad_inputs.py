"""Malformed inputs: every one becomes an ``errors`` row with a specific reason (or, if readable, documents),
and none of them stops the batch. The corpus is built by ``tests/fixtures/bad_inputs.py``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import gazette.cli
from gazette.cli import main
from pipeline.ingest import commit_results, discover_inputs, process_source
from pipeline.isolation import Job, run_jobs
from pipeline.settings import Settings
from pipeline.storage import Store
from tests.fixtures.bad_inputs import (
    BAD_INPUTS,
    LIMITS,
    PDF_INPUTS,
    BadInput,
    article_html,
    build_bad_inputs,
    build_good_inputs,
    good_pdf_bytes,
    supplementary_char_pdf,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[BadInput], list[Path]]:
    folder = tmp_path_factory.mktemp("bad_inputs")
    return folder, build_bad_inputs(folder), build_good_inputs(folder)


def _outcome(result) -> tuple[str, str]:
    if result.errors:
        return result.errors[0].error_type, result.errors[0].message
    return "ok", ""


def _check_store(out: Path, folder: Path, cases: list[BadInput], good: list[Path]) -> list[str]:
    """Every mismatch between the store and the expectations, as readable lines."""
    store = Store(out)
    errors = store.read("errors").to_pylist()
    documents = store.read("documents").to_pylist()
    sections = store.read("sections")
    by_source: dict[str, list[dict]] = {}
    for e in errors:
        by_source.setdefault(e["source"], []).append(e)
    problems = []
    for case in cases:
        source = str(folder / case.name)
        rows = by_source.get(source, [])
        docs = [d for d in documents if d["source"] == source]
        if case.expected == "ok":
            if rows or not docs:
                problems.append(f"{case.name}: expected documents, got errors {[(r['error_type'], r['message']) for r in rows]}")
                continue
            if case.kind and {d["kind"] for d in docs} != {case.kind}:
                problems.append(f"{case.name}: documents of kind {sorted({d['kind'] for d in docs})}, expected {case.kind}")
            if case.contains:
                ids = [d["doc_id"] for d in docs]
                texts = sections.filter(pc.is_in(sections["doc_id"], value_set=pa.array(ids)))
                text = "".join(texts["text"].to_pylist()) + "".join(d["title"] or "" for d in docs)
                if case.contains not in text:
                    problems.append(f"{case.name}: {case.contains!r} not in the stored text")
            continue
        if docs:
            problems.append(f"{case.name}: expected {case.expected}, got {len(docs)} documents")
        if len(rows) != 1:
            problems.append(f"{case.name}: expected one errors row ({case.expected}), found {len(rows)}")
            continue
        row = rows[0]
        if row["error_type"] != case.expected:
            problems.append(f"{case.name}: error_type {row['error_type']!r} ({row['message']}), expected {case.expected!r}")
        elif case.message and not re.search(case.message, row["message"], re.I):
            problems.append(f"{case.name}: message {row['message']!r} does not match {case.message!r}")
        if not row["raw_sha256"] and case.expected != "too_large":  # too_large: deliberately never read
            problems.append(f"{case.name}: errors row without raw_sha256")
    for path in good:
        if by_source.get(str(path)):
            problems.append(f"{path.name}: good input has errors {by_source[str(path)]}")
        if not any(d["source"] == str(path) for d in documents):
            problems.append(f"{path.name}: good input is not in documents")
    return problems


# --- one input at a time, in this process -------------------------------------------------------


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.name)
def test_bad_input_outcome(case: BadInput, corpus):
    folder, _, _ = corpus
    result = process_source(folder / case.name, settings=Settings(**LIMITS))
    error_type, message = _outcome(result)
    assert error_type == case.expected, f"{case.name} ({case.why}): {message}"
    if case.expected == "ok":
        assert result.documents and not result.errors
        assert {d.kind for d in result.documents} == {case.kind}
    else:
        assert result.kind == "error" and not result.documents and len(result.errors) == 1
        assert result.errors[0].stage != "pipeline"
        assert re.search(case.message, message, re.I), message


@pytest.mark.parametrize("case", PDF_INPUTS, ids=lambda c: c.name)
def test_bad_pdf_outcome_with_pdfplumber_backend(case: BadInput, corpus):
    """``--backend pdfplumber`` must classify the same inputs the same way."""
    folder, _, _ = corpus
    result = process_source(folder / case.name, settings=Settings(backend="pdfplumber", **LIMITS))
    error_type, message = _outcome(result)
    assert error_type == (case.expected_with_pdfplumber or case.expected), f"{case.name} ({case.why}): {message}"
    if case.message:
        assert re.search(case.message, message, re.I), message


# --- the whole corpus in one batch ----------------------------------------------------------------


def test_cli_batch_of_bad_and_good_inputs(corpus, tmp_path, monkeypatch, capsys):
    folder, cases, good = corpus
    original = gazette.cli._settings
    # the CLI has no flags for these limits: apply the corpus's small limits to whatever it builds
    monkeypatch.setattr(gazette.cli, "_settings", lambda args: original(args).with_(**LIMITS))
    out = tmp_path / "out"
    code = main(["ingest", str(folder), "--out", str(out), "--raw", "", "-q"])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert f"{len(cases) + len(good)} inputs" in captured.out
    problems = _check_store(out, folder, cases, good)
    problems += [f"{case.name}: no '{case.expected}' line on stderr" for case in cases
                 if case.expected != "ok" and f"error: {folder / case.name}: {case.expected}: " not in captured.err]
    assert not problems, "\n".join(problems)
    store = Store(out)
    [run] = store.read("runs").to_pylist()  # the CLI records its run like a flow does
    expected_errors = sum(case.expected != "ok" for case in cases)
    assert run["flow"] == "cli-ingest" and len(run["inputs"]) == len(cases) + len(good)
    assert run["errors"] == expected_errors == store.read("errors").num_rows
    lineage = store.read("inputs").to_pylist()  # one lineage row per input, failed or not
    assert len(lineage) == len(cases) + len(good)
    assert sum(r["status"] == "error" for r in lineage) == expected_errors


def test_run_jobs_batch_of_bad_and_good_inputs(corpus, tmp_path):
    folder, cases, good = corpus
    paths = discover_inputs([folder])
    assert len(paths) == len(cases) + len(good)
    seen = []
    results = run_jobs([Job(p, str(p)) for p in paths], Settings(**LIMITS), workers=3, on_result=seen.append)
    assert [r.source for r in results] == [str(p) for p in paths]  # job order, all of them
    assert len(seen) == len(paths)
    out = tmp_path / "out"
    commit_results(Store(out), results)
    problems = _check_store(out, folder, cases, good)
    assert not problems, "\n".join(problems)


# --- time budget ----------------------------------------------------------------------------------


def test_timeout_stops_the_document_and_the_batch_goes_on(tmp_path, capsys, inject_faults):
    """A document that can never finish (it hangs on purpose) is stopped at its budget,
    whatever the machine's speed; the next input is still parsed and written."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_stuck.html").write_text(article_html("永远不会结束的文章"), encoding="utf-8")
    (folder / "b_good.html").write_text(article_html("时间预算之后的文章"), encoding="utf-8")
    out = tmp_path / "out"
    inject_faults("parse=hang@a_stuck")
    code = main(["ingest", str(folder), "--out", str(out), "--raw", "", "-q", "--timeout", "0.3"])
    assert code == 1
    store = Store(out)
    errors = store.read("errors").to_pylist()
    assert [(e["source"], e["error_type"]) for e in errors] == [(str(folder / "a_stuck.html"), "timeout")]
    assert "0.3 s" in errors[0]["message"], errors[0]["message"]  # the budget that was exceeded, as given
    assert store.read("documents")["source"].to_pylist() == [str(folder / "b_good.html")]
    assert "timeout" in capsys.readouterr().err


# --- error rows and units -------------------------------------------------------------------------


def test_identical_inputs_keep_each_error_row(tmp_path):
    """Two failed downloads (both 0 bytes) are two errors: one row per input, not per content hash."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(b"")
    (folder / "b.html").write_bytes(b"")
    out = tmp_path / "out"
    assert main(["ingest", str(folder), "--out", str(out), "--raw", "", "-q"]) == 1
    rows = Store(out).read("errors").to_pylist()
    assert sorted((Path(r["source"]).name, r["error_type"]) for r in rows) == [
        ("a.pdf", "empty_file"), ("b.html", "empty_file")]


def test_reingest_after_a_failure_clears_the_error_row(tmp_path):
    """The same bytes failed once (here: a limit), then go through: errors must not keep the old row."""
    pdf = tmp_path / "issue.pdf"
    pdf.write_bytes(good_pdf_bytes())
    store = Store(tmp_path / "out")
    first = run_jobs([Job(pdf, str(pdf))], Settings(max_pages=1), isolate=False)
    assert first[0].errors[0].error_type == "too_many_pages"
    commit_results(store, first)
    second = run_jobs([Job(pdf, str(pdf))], Settings(), isolate=False)
    assert second[0].documents and not second[0].errors
    commit_results(store, second)
    assert store.read("documents")["source"].to_pylist()
    stale = [(r["source"], r["error_type"]) for r in store.read("errors").to_pylist()]
    assert stale == [], "an input that now parses still has its old errors row"


def test_html_page_mentioning_the_pdf_header_is_read_as_html(tmp_path):
    """``%PDF-`` in the text of a web page (an article about PDF files) does not make it a PDF."""
    page = tmp_path / "about_pdf.html"
    page.write_text(article_html("文件头%PDF-1.7损坏时如何修复"), encoding="utf-8")
    result = process_source(page)
    assert _outcome(result) == ("ok", "")
    assert result.documents[0].kind == "html"


def test_pdf_with_a_supplementary_plane_character_keeps_the_batch(tmp_path):
    """U+20000 (CJK Ext. B) comes from pdfium as two UTF-16 code units; the text must hold the character,
    and no document may make the commit fail for the whole batch."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_ext_b.pdf").write_bytes(supplementary_char_pdf())
    (folder / "b_good.html").write_text(article_html("生僻字之后的文章"), encoding="utf-8")
    out = tmp_path / "out"
    code = main(["ingest", str(folder), "--out", str(out), "--raw", "", "-q"])
    assert code == 0
    store = Store(out)
    assert sorted(Path(s).name for s in store.read("documents")["source"].to_pylist()) == ["a_ext_b.pdf", "b_good.html"]
    assert "\U00020000乙丙" in "".join(store.read("sections")["text"].to_pylist())


# --- a long PDF ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_2000_page_pdf_in_bounded_memory(tmp_path):
    from tests.fixtures.build_gazette import build_long_pdf

    pdf = tmp_path / "long.pdf"
    assert build_long_pdf(pdf, 2000).n_pages == 2000
    out = tmp_path / "out"
    # a fresh interpreter, so RUSAGE_CHILDREN sees only the forked worker that parses the PDF
    code = (
        "import resource, sys\n"
        "from gazette.cli import main\n"
        f"rc = main(['ingest', {str(pdf)!r}, '--out', {str(out)!r}, '--raw', '', '-q'])\n"
        "print('RESULT', rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=1700)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT"))
    _, rc, peak_kb = line.split()
    assert int(rc) == 0, proc.stderr
    peak_gb = int(peak_kb) / 1024**2  # ru_maxrss is in KiB on Linux
    assert peak_gb < 1.5, f"worker peak RSS {peak_gb:.2f} GB"
    docs = Store(out).read("documents")
    assert docs.num_rows >= 1 and max(docs["page_end"].to_pylist()) == 2000
