"""The Parquet store: replace-not-duplicate, atomic snapshots, crashes, concurrent writers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipeline.schema import DATASETS, SCHEMA_VERSION
from pipeline.storage import SchemaMismatch, Store


def docs(unit: str, n: int, title: str = "t") -> pa.Table:
    rows = [{"unit_id": unit, "doc_id": f"{unit}-{i:02d}", "title": title, "kind": "pdf"} for i in range(1, n + 1)]
    return pa.Table.from_pylist(rows, schema=DATASETS["documents"])


def sections(unit: str, n: int) -> pa.Table:
    rows = [{"unit_id": unit, "doc_id": f"{unit}-01", "seq": i, "level": "chapter", "text": "x"} for i in range(n)]
    return pa.Table.from_pylist(rows, schema=DATASETS["sections"])


def test_reprocessing_a_unit_replaces_its_rows(tmp_path):
    store = Store(tmp_path)
    store.commit({"documents": {"u1": docs("u1", 2)}, "sections": {"u1": sections("u1", 3)}})
    store.commit({"documents": {"u2": docs("u2", 1)}})
    store.commit({"documents": {"u1": docs("u1", 1, "new")}, "sections": {"u1": sections("u1", 2)}}, replace_units={"u1"})
    table = ds.dataset(tmp_path / "documents").to_table().to_pylist()
    assert sorted((r["doc_id"], r["title"]) for r in table) == [("u1-01", "new"), ("u2-01", "t")]
    assert duckdb.sql(f"select count(*) from '{tmp_path}/sections/*.parquet'").fetchall()[0][0] == 2


def test_dropping_a_unit_removes_all_its_rows_and_table_files(tmp_path):
    store = Store(tmp_path)
    typed = pa.table({"序号": [1, 2]})
    store.commit({"documents": {"u1": docs("u1", 1)}}, {"u1-01/t1": typed})
    assert store.read_table_file("u1-01", "t1").column("序号").to_pylist() == [1, 2]
    assert (tmp_path / "tables" / "u1-01" / "t1.parquet").exists()
    store.commit({}, replace_units={"u1"})
    assert store.read("documents").num_rows == 0
    assert not (tmp_path / "tables" / "u1-01").exists()


def test_files_carry_the_schema_version_and_a_mismatch_is_refused(tmp_path):
    store = Store(tmp_path)
    store.commit({"documents": {"u1": docs("u1", 1)}})
    meta = ds.dataset(tmp_path / "documents").schema.metadata
    assert meta[b"gazette.schema_version"] == SCHEMA_VERSION.encode()
    (store.current() / "_meta.json").write_text('{"schema_version": "0"}')
    with pytest.raises(SchemaMismatch, match="schema version 0"):
        store.commit({"documents": {"u2": docs("u2", 1)}})
    with pytest.raises(SchemaMismatch):  # a run's log row alone is refused as well
        store.commit({"runs": {"r1": run_row("r1")}})


def test_unsafe_part_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unsafe"):
        Store(tmp_path).commit({"documents": {"../evil": docs("x", 1)}})


def test_old_snapshots_are_pruned_and_debris_swept(tmp_path):
    store = Store(tmp_path)
    for i in range(5):
        store.commit({"documents": {f"u{i}": docs(f"u{i}", 1)}})
    (store.snapshots / ".tmp-dead").mkdir()
    store.commit({"documents": {"u9": docs("u9", 1)}})
    names = sorted(p.name for p in store.snapshots.iterdir())
    assert names == ["000005", "000006"]
    assert store.read("documents").num_rows == 6


_WRITER = """
import sys, pyarrow as pa
from pipeline.schema import DATASETS
from pipeline.storage import Store
root, unit, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = [{"unit_id": unit, "doc_id": f"{unit}-{i}", "title": "x" * 2000} for i in range(n)]
big = pa.Table.from_pylist(rows, schema=DATASETS["documents"])
Store(root).commit({"documents": {unit: big}})
print("done", flush=True)
"""


def _consistent(root: Path) -> set[str]:
    """Every dataset readable; returns the units visible in documents."""
    store = Store(root)
    for name in DATASETS:
        if store.current() is not None:
            store.read(name)
    return {r["unit_id"] for r in store.read("documents").to_pylist()}


def test_sigkill_during_commit_leaves_previous_snapshot_readable(tmp_path):
    store = Store(tmp_path)
    store.commit({"documents": {"base": docs("base", 3)}})
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for delay in (0.05, 0.2, 0.4, 0.8):
        proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), f"k{delay}", "20000"], env=env,
                                stdout=subprocess.PIPE)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        units = _consistent(tmp_path)
        assert "base" in units  # the old data is always there and readable
        assert all(len([r for r in store.read("documents").to_pylist() if r["unit_id"] == u]) in (3, 20000)
                   for u in units)
    store.commit({"documents": {"after": docs("after", 1)}})
    assert {"base", "after"} <= _consistent(tmp_path)
    assert not list(store.snapshots.glob(".tmp-*"))


_CONCURRENT = """
import sys, pyarrow as pa
from pipeline.schema import DATASETS
from pipeline.storage import Store
root, unit = sys.argv[1], sys.argv[2]
for i in range(5):
    rows = [{"unit_id": f"{unit}{i}", "doc_id": f"{unit}{i}-{k}"} for k in range(2)]
    Store(root).commit({"documents": {f"{unit}{i}": pa.Table.from_pylist(rows, schema=DATASETS["documents"])}})
"""


def test_two_concurrent_writers_lose_nothing(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [subprocess.Popen([sys.executable, "-c", _CONCURRENT, str(tmp_path / "out"), name], env=env)
             for name in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    units = _consistent(tmp_path / "out")
    assert units == {f"{n}{i}" for n in "ab" for i in range(5)}
    assert Store(tmp_path / "out").read("documents").num_rows == 20


def test_any_filesystem_uri_holds_the_same_datasets(pdf_factory):
    """An fsspec in-memory filesystem stands in for s3:// (no rename, no symlinks)."""
    from pipeline.cli import main
    from pipeline.storage import ObjectStore, open_store
    from tests.conftest import small_issue

    pdf = pdf_factory(small_issue(3), "uri.pdf")
    uri = "memory://bucket/gazette-out"
    assert main(["ingest", str(pdf), "--out", uri, "--raw", "", "-q"]) == 0
    first = open_store(uri).read("sections").num_rows
    assert main(["ingest", str(pdf), "--out", uri, "--raw", "", "-q"]) == 0  # replaces, no duplicates
    store = open_store(uri)
    assert isinstance(store, ObjectStore)
    docs = store.read("documents").to_pylist()
    assert [d["doc_number"] for d in docs] == ["测府办〔2022〕3号"]
    assert store.read("sections").num_rows == first > 3
    assert isinstance(open_store("file:///tmp/x"), Store)


def run_row(run_id: str) -> pa.Table:
    return pa.Table.from_pylist([{"run_id": run_id, "flow": "ingest", "documents": 0}], schema=DATASETS["runs"])


def test_a_run_that_changed_nothing_adds_its_run_row_without_a_snapshot(tmp_path):
    store = Store(tmp_path)
    first = store.commit({"documents": {"u1": docs("u1", 1)}, "runs": {"r1": run_row("r1")}})
    again = store.commit({"runs": {"r2": run_row("r2")}})
    store.append("runs", {"r3": run_row("r3")})
    assert again == first == store.current()  # no new snapshot for log rows
    assert sorted(store.read("runs").column("run_id").to_pylist()) == ["r1", "r2", "r3"]
    assert duckdb.sql(f"select count(*) from '{tmp_path}/runs/*.parquet'").fetchall()[0][0] == 3
    assert store.read("documents").num_rows == 1
    with pytest.raises(ValueError):
        store.append("documents", {"u2": docs("u2", 1)})


def test_the_first_commit_of_only_log_rows_still_publishes_every_dataset(tmp_path):
    Store(tmp_path).commit({"runs": {"r1": run_row("r1")}})
    for name in ("documents", "sections", "runs", "fetches", "inputs"):
        assert (tmp_path / name).is_dir()  # no dangling link for a reader
    assert duckdb.sql(f"select count(*) from '{tmp_path}/runs/*.parquet'").fetchall()[0][0] == 1


def test_an_output_from_before_logs_left_the_snapshots_keeps_its_runs(tmp_path):
    store = Store(tmp_path)
    store.commit({"documents": {"u1": docs("u1", 1)}})
    # the older layout: runs parts inside the snapshot, output/runs -> .gazette/current/runs
    old_runs = store.current() / "runs"
    old_runs.mkdir(exist_ok=True)
    pq.write_table(run_row("old"), old_runs / "old.parquet")
    (tmp_path / "runs").unlink()
    os.symlink(Path(".gazette", "current", "runs"), tmp_path / "runs")
    shutil.rmtree(tmp_path / ".gazette" / "log")
    assert store.read("runs").column("run_id").to_pylist() == ["old"]
    store.commit({"documents": {"u2": docs("u2", 1)}, "runs": {"new": run_row("new")}})
    assert sorted(store.read("runs").column("run_id").to_pylist()) == ["new", "old"]
    assert os.readlink(tmp_path / "runs") == os.path.join(".gazette", "log", "runs")
    assert duckdb.sql(f"select count(*) from '{tmp_path}/runs/*.parquet'").fetchall()[0][0] == 2
