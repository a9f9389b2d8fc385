"""The fast path (pypdfium2 text + pdfplumber for table pages), the pdfplumber-only path
and the parallel page reader must produce the same rows on every sample and corpus PDF."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.process import process_pdf
from pipeline.rows import result_tables
from pipeline.settings import Settings
from tests.conftest import CORPUS, SAMPLE_PDF

PDFS = [SAMPLE_PDF, *sorted((CORPUS / "pdf").glob("*.pdf"))]
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def rows(path, **settings) -> dict[str, list]:
    result = process_pdf(path, source=str(path), raw_sha256="0" * 64, settings=Settings(**settings))
    return {name: table.to_pylist() for name, table in result_tables(result, NOW).items()}


@pytest.mark.parametrize("path", PDFS, ids=lambda p: p.name)
def test_fast_path_matches_pdfplumber(path):
    assert rows(path, backend="auto") == rows(path, backend="pdfplumber")


def test_parallel_pages_match_serial():
    assert rows(SAMPLE_PDF, workers=2) == rows(SAMPLE_PDF, workers=1)


def test_threads_parsing_at_once_match_serial():
    """Prefect's thread task runner parses documents concurrently; PDFium is not thread-safe."""
    from concurrent.futures import ThreadPoolExecutor

    paths = PDFS * 2
    serial = [rows(p) for p in paths]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(rows, paths)) == serial
