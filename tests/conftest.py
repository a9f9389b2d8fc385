"""Shared fixtures: sample PDFs made by the project's own fixture builder, cached per session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Prefect's temporary server logs 'database is locked' with analytics on (SQLite)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# results and the API database of this test session live in a fresh folder
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="gazette-prefect-")

ROOT = Path(__file__).resolve().parents[1]
# real documents the tests read, copied into the repository with their provenance (tests/data/README.md)
DATA = ROOT / "tests" / "data"
SEED_GAZETTE = DATA / "seeds" / "002_5861feff4b853c8c.txt"
SEED_POST = DATA / "seeds" / "000_23a1c87a91197581.txt"
CORPUS = DATA / "corpus"
SAMPLE_PDF = ROOT / "raw" / "samples" / "gz-2021-29.pdf"


def small_issue(n: int, chapters: int = 2) -> str:
    """A short gazette issue text in the seed's format (cover, 目录, one document)."""
    body = []
    toc = []
    for c in range(1, chapters + 1):
        cn = "一二三四五六七八九"[c - 1]
        toc += [f"第{cn}章 第{n}期第{c}章标题", f"第一节 第{c}章第一节"]
        body += [f"第{cn}章 第{n}期第{c}章标题", f"第一节 第{c}章第一节",
                 f"这是第{n}期第{c}章的正文内容，用于测试流程是否完整地处理每一个文件。" * 3]
    return "\n\n".join([
        "测试市人民政府公报", f"2022 年第 {n} 期（总第 {100 + n} 期）", "目 录", "测试市人民政府办公厅文件",
        f"测试市人民政府办公厅关于印发第{n}号规划的通知", f"（测府办〔2022〕{n}号） (1)",
        "测试市人民政府办公厅文件", f"测府办〔2022〕{n}号", f"测试市人民政府办公厅关于印发第{n}号规划的通知",
        "各区人民政府：", "现印发给你们，请认真组织实施。", "测试市人民政府办公厅", "2022年3月1日",
        f"第{n}号规划", "目 录", *toc, *body, "公开方式：主动公开",
    ]) + "\n"


@pytest.fixture(scope="session")
def pdf_factory(tmp_path_factory):
    """Build a PDF from gazette text with the fixture builder (cached by arguments)."""
    from tests.fixtures.build_gazette import build_pdf

    cache: dict = {}
    folder = tmp_path_factory.mktemp("pdfs")

    def make(text: str, name: str, **options) -> Path:
        key = (text, name, tuple(sorted(options.items())))
        if key not in cache:
            path = folder / name
            build_pdf(text, path, **options)
            cache[key] = path
        return cache[key]

    return make


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED_GAZETTE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect API (SQLite) for every flow test in the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def inject_faults(monkeypatch):
    """``inject_faults("parse=hang@name")``: set ``GAZETTE_FAULTS`` for this test (see
    ``pipeline/faults.py``). The parse service is restarted so that its documents see it,
    and again afterwards so that later tests' documents do not."""
    from pipeline import faults
    from pipeline.isolation import stop_parse_service

    def inject(spec: str) -> None:
        monkeypatch.setenv(faults.ENV, spec)
        stop_parse_service()

    yield inject
    monkeypatch.delenv(faults.ENV, raising=False)
    stop_parse_service()
