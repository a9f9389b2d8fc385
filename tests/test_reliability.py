"""Whole ingest runs killed at any moment, and two runs writing one output at once."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from pipeline.storage import Store
from tests.conftest import ROOT, SAMPLE_PDF, small_issue

DATASETS = ("documents", "sections", "tables", "table_cells", "removed", "toc_checks", "errors")


def gazette(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "gazette.cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def snapshot(out: Path) -> dict[str, list]:
    """Every dataset's rows (minus the processing time), order-independent."""
    store = Store(out)
    rows = {}
    for name in DATASETS:
        table = store.read(name)
        keep = [c for c in table.column_names if c != "processed_at"]
        rows[name] = sorted(map(repr, table.select(keep).to_pylist()))
    return rows


def _workers_of(out: Path) -> list:
    return [p for p in psutil.process_iter(["cmdline"]) if str(out) in " ".join(p.info["cmdline"] or [])]


# how long a killed run's processes may take to notice and go: a service killed mid start-up
# ends once its imports are done and it sees its closed stdin, slower on a loaded machine; a
# process that outlives its parent never goes, so a generous wait costs a passing run nothing
GONE_WITHIN_S = 120.0


def _left_after_kill(find) -> list:
    """What ``find()`` still returns once it returns nothing or ``GONE_WITHIN_S`` has passed."""
    deadline = time.monotonic() + GONE_WITHIN_S
    while (left := find()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _service_of(parent: int) -> list:
    """The parse service of a killed run (``python -m pipeline.isolation PARENT``)."""
    return [p for p in psutil.process_iter(["cmdline"])
            if "pipeline.isolation" in " ".join(p.info["cmdline"] or [])
            and (p.info["cmdline"] or [""])[-1] == str(parent)]


def test_sigkill_at_any_point_leaves_consistent_output(tmp_path, pdf_factory):
    other = pdf_factory(small_issue(4), "other.pdf")
    clean = tmp_path / "clean"
    assert gazette("ingest", str(SAMPLE_PDF), str(other), "--out", str(clean), "--raw", "", "-q").wait() == 0
    expected = snapshot(clean)

    out = tmp_path / "out"
    assert gazette("ingest", str(other), "--out", str(out), "--raw", "", "-q").wait() == 0
    before = snapshot(out)
    for delay in (0.3, 0.8, 1.3, 1.8, 2.3, 2.8):  # during start-up, parsing and writing
        proc = gazette("ingest", str(SAMPLE_PDF), str(other), "--out", str(out), "--raw", "", "-q")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not _left_after_kill(lambda: _workers_of(out)), "parse workers outlived their killed parent"
        assert not _left_after_kill(functools.partial(_service_of, proc.pid)), (
            "the parse service outlived its killed parent")
        now = snapshot(out)
        assert now in (before, expected), f"torn output after a kill at {delay} s"
    assert gazette("ingest", str(SAMPLE_PDF), str(other), "--out", str(out), "--raw", "", "-q").wait() == 0
    assert snapshot(out) == expected


def test_two_concurrent_ingest_runs_keep_both(tmp_path, pdf_factory):
    a, b = pdf_factory(small_issue(5), "a.pdf"), pdf_factory(small_issue(6), "b.pdf")
    out = tmp_path / "out"
    runs = [gazette("ingest", str(p), "--out", str(out), "--raw", "", "-q") for p in (a, b, SAMPLE_PDF)]
    assert [r.wait(timeout=120) for r in runs] == [0, 0, 0]
    numbers = {d["doc_number"] for d in Store(out).read("documents").to_pylist()}
    assert numbers == {"测府办〔2022〕5号", "测府办〔2022〕6号", "穗府办〔2021〕9号", "穗林业园林规字〔2021〕2号"}
