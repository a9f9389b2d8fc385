"""The Parquet store: replace-not-duplicate, atomic snapshots, crashes, concurrent writers."""

from __future__ import annotations

import json
import os
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
from pipeline.storage import COMPACT_AT_FILES, FLUSH_ROWS, SchemaMismatch, Store

P21, P22 = "doc_kind=pdf/year=2021", "doc_kind=pdf/year=2022"


def docs(unit: str, n: int, title: str = "t") -> list[dict]:
    return [{"unit_id": unit, "doc_id": f"{unit}-{i:02d}", "title": title, "kind": "pdf"} for i in range(1, n + 1)]


def sections(unit: str, n: int) -> list[dict]:
    return [{"unit_id": unit, "doc_id": f"{unit}-01", "seq": i, "level": "chapter", "text": "x"} for i in range(n)]


def put(store: Store, unit: str, partition: str = P21, **rows) -> None:
    with store.transaction() as tx:
        tx.put("unit_id", unit, partition, rows)


def run_row(run_id: str) -> pa.Table:
    return pa.Table.from_pylist([{"run_id": run_id, "flow": "ingest", "documents": 0}], schema=DATASETS["runs"])


def test_reprocessing_a_unit_replaces_its_rows(tmp_path):
    store = Store(tmp_path)
    put(store, "u1", documents=docs("u1", 2), sections=sections("u1", 3))
    put(store, "u2", documents=docs("u2", 1))
    put(store, "u1", documents=docs("u1", 1, "new"), sections=sections("u1", 2))
    table = ds.dataset(tmp_path / "documents").to_table().to_pylist()
    assert sorted((r["doc_id"], r["title"]) for r in table) == [("u1-01", "new"), ("u2-01", "t")]
    assert duckdb.sql(f"select count(*) from '{tmp_path}/sections/**/*.parquet'").fetchall()[0][0] == 2


def test_a_unit_that_moves_to_another_partition_leaves_none_of_its_old_rows(tmp_path):
    """A re-parse that finds another year puts the unit in another partition: its old rows go."""
    store = Store(tmp_path)
    put(store, "u1", P21, documents=docs("u1", 2), sections=sections("u1", 2))
    put(store, "u1", P22, documents=docs("u1", 1, "moved"))
    rows = duckdb.sql(f"select year, title from read_parquet('{tmp_path}/documents/**/*.parquet', hive_partitioning = true)")
    assert rows.fetchall() == [(2022, "moved")]
    assert store.read("sections").num_rows == 0  # the new result has no sections: the old ones go too


def test_a_key_written_twice_in_one_transaction_keeps_the_last(tmp_path):
    """A corrected issue after its original in one batch: the later rows win, even once the
    earlier ones were already written to the transaction's file."""
    store = Store(tmp_path)
    with store.transaction() as tx:
        tx.put("unit_id", "u1", P21, {"documents": docs("u1", 3, "first")})
        tx.flush()  # the first version is in the staged file now
        tx.put("unit_id", "u2", P21, {"documents": docs("u2", 1)})
        tx.put("unit_id", "u1", P21, {"documents": docs("u1", 2, "second")})
    assert sorted((r["doc_id"], r["title"]) for r in store.read("documents").to_pylist()) == [
        ("u1-01", "second"), ("u1-02", "second"), ("u2-01", "t")]


def test_rows_the_schema_refuses_fail_their_key_only(tmp_path):
    store = Store(tmp_path)
    put(store, "u1", documents=docs("u1", 1, "old"))
    refused = []
    with store.transaction(on_reject=lambda column, key, message: refused.append((column, key))) as tx:
        tx.put("unit_id", "u1", P21, {"documents": [{"unit_id": "u1", "doc_id": "u1-01", "page_start": "not a number"}]})
        tx.put("unit_id", "u2", P21, {"documents": docs("u2", 1)})
    assert refused == [("unit_id", "u1")] and tx.rejected[0][:2] == ("unit_id", "u1")
    assert sorted((r["doc_id"], r["title"]) for r in store.read("documents").to_pylist()) == [
        ("u1-01", "old"), ("u2-01", "t")]  # u1 keeps its old rows


def test_a_long_transaction_converts_rows_as_it_goes_and_writes_whole_row_groups(tmp_path, monkeypatch):
    n = FLUSH_ROWS // 100 + 10  # 100 section rows per unit: the buffered rows are converted once on the way

    def run(out: Path) -> list[int]:
        store = Store(out)
        with store.transaction() as tx:
            for i in range(n):
                tx.put("unit_id", f"u{i}", P21, {"sections": sections(f"u{i}", 100)})
            assert tx.flushes == 1
        [path] = store.files("sections")
        meta = pq.ParquetFile(path).metadata
        return [meta.row_group(k).num_rows for k in range(meta.num_row_groups)]

    assert run(tmp_path / "a") == [100 * n]  # one row group, not one per conversion
    monkeypatch.setattr("pipeline.storage.ROW_GROUP_ROWS", FLUSH_ROWS // 2)
    assert run(tmp_path / "b") == [FLUSH_ROWS, 100 * n - FLUSH_ROWS]  # a row group's worth is written at once


def test_files_carry_the_schema_version_and_descriptions_and_a_mismatch_is_refused(tmp_path):
    store = Store(tmp_path)
    put(store, "u1", documents=docs("u1", 1))
    schema = ds.dataset(tmp_path / "documents").schema
    assert schema.metadata[b"gazette.schema_version"] == SCHEMA_VERSION.encode()
    assert schema.field("toc_complete").metadata[b"description"].startswith(b"every \xe7\x9b\xae\xe5\xbd\x95 entry")
    manifest = store.current() / "_manifest.json"
    manifest.write_text(manifest.read_text().replace(f'"schema_version": "{SCHEMA_VERSION}"', '"schema_version": "0"'))
    with pytest.raises(SchemaMismatch, match="schema version 0"):
        put(store, "u2", documents=docs("u2", 1))
    with pytest.raises(SchemaMismatch), store.transaction() as tx:  # a run's log row alone is refused as well
        tx.log("runs", run_row("r1"))


def test_an_output_of_the_layout_before_partitions_is_refused(tmp_path):
    old = tmp_path / ".gazette" / "snapshots" / "000001"  # the layout of SCHEMA_VERSION 1
    (old / "documents").mkdir(parents=True)
    (old / "_meta.json").write_text('{"schema_version": "1", "snapshot": 1}')
    os.symlink(Path("snapshots", "000001"), tmp_path / ".gazette" / "current")
    with pytest.raises(SchemaMismatch, match="schema version 1 \\(a file per input\\)"):
        Store(tmp_path).read("documents")


def test_unsafe_partitions_and_unknown_keys_are_refused(tmp_path):
    with Store(tmp_path).transaction() as tx:
        with pytest.raises(ValueError, match="unsafe"):
            tx.put("unit_id", "x", "doc_kind=../year=2021", {"documents": docs("x", 1)})
        with pytest.raises(ValueError, match="partition"):
            tx.put("unit_id", "x", "year=2021", {"documents": docs("x", 1)})
        with pytest.raises(ValueError, match="keyed"):
            tx.put("unit_id", "x", P21, {"inputs": [{"source": "x"}]})


def _tree_rows(tree: Path) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in (tree / "documents").rglob("*.parquet"))


def test_the_other_tree_keeps_the_previous_snapshot_and_a_half_made_one_is_rebuilt(tmp_path):
    store = Store(tmp_path)
    for i in range(5):
        put(store, f"u{i}", documents=docs(f"u{i}", 1))
    current = store.current()
    other = store.trees / ("a" if current.name == "b" else "b")
    assert json.loads((other / "_manifest.json").read_text())["snapshot"] == 4  # the one before
    assert (_tree_rows(current), _tree_rows(other)) == (5, 4)
    # a commit killed while it brought the other tree up to date: no manifest, a stray link
    (other / "_manifest.json").unlink()
    os.link(next((current / "documents").rglob("*.parquet")), other / "documents" / "stray.parquet")
    os.symlink("trees/x", store.meta / ".current-dead")
    put(store, "u9", documents=docs("u9", 1))
    assert store.current() == other and _tree_rows(other) == 6 and store.read("documents").num_rows == 6
    assert not (other / "documents" / "stray.parquet").exists() and not list(store.meta.glob(".current-*"))


def test_small_files_are_compacted_once_they_accumulate(tmp_path):
    store = Store(tmp_path)
    for i in range(COMPACT_AT_FILES):
        put(store, f"u{i}", documents=docs(f"u{i}", 1))
    assert len(store.files("documents")) == COMPACT_AT_FILES
    put(store, "last", documents=docs("last", 1))  # one more small file than allowed: merged into one
    [merged] = store.files("documents")
    assert pq.ParquetFile(merged).metadata.num_rows == COMPACT_AT_FILES + 1
    assert store.read("documents").num_rows == COMPACT_AT_FILES + 1


def test_compact_merges_every_partitions_small_files_now(tmp_path):
    store = Store(tmp_path)
    for i in range(3):
        put(store, f"u{i}", documents=docs(f"u{i}", 1))
        put(store, f"v{i}", P22, documents=docs(f"v{i}", 1))
    assert len(store.files("documents")) == 6
    store.compact()
    assert len(store.files("documents")) == 2  # one per partition
    assert sorted(r["unit_id"] for r in store.read("documents").to_pylist()) == ["u0", "u1", "u2", "v0", "v1", "v2"]
    put(store, "u0", documents=docs("u0", 1, "again"))  # the index still finds u0 in the merged file
    assert sorted((r["unit_id"], r["title"]) for r in store.read("documents").to_pylist())[0] == ("u0", "again")
    assert store.read("documents").num_rows == 6


_WRITER = """
import sys
from pipeline.storage import Store
root, unit, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = [{"unit_id": unit, "doc_id": f"{unit}-{i}", "title": "x" * 2000} for i in range(n)]
with Store(root).transaction() as tx:
    tx.put("unit_id", unit, "doc_kind=pdf/year=2021", {"documents": rows})
print("done", flush=True)
"""


def _consistent(root: Path) -> set[str]:
    """Every dataset readable; returns the units visible in documents."""
    store = Store(root)
    for name in DATASETS:
        store.read(name)
    return {r["unit_id"] for r in store.read("documents").to_pylist()}


def test_sigkill_during_commit_leaves_previous_snapshot_readable(tmp_path):
    store = Store(tmp_path)
    put(store, "base", documents=docs("base", 3))
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
    put(store, "after", documents=docs("after", 1))
    assert {"base", "after"} <= _consistent(tmp_path)
    assert _tree_rows(store.current()) == store.read("documents").num_rows  # no half-made tree behind the link
    assert [p.name for p in (store.meta / "staging").iterdir()] == []  # the killed writers' files are swept


_CONCURRENT = """
import sys
from pipeline.storage import Store
root, unit = sys.argv[1], sys.argv[2]
for i in range(5):
    rows = [{"unit_id": f"{unit}{i}", "doc_id": f"{unit}{i}-{k}"} for k in range(2)]
    with Store(root).transaction() as tx:
        tx.put("unit_id", f"{unit}{i}", "doc_kind=pdf/year=2021", {"documents": rows})
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
    from gazette.cli import main
    from pipeline.storage import ObjectStore, open_store
    from tests.conftest import small_issue

    pdf = pdf_factory(small_issue(3), "uri.pdf")
    uri = "memory://bucket/gazette-out"
    assert main(["ingest", str(pdf), "--out", uri, "--raw", "", "-q"]) == 0
    first = open_store(uri).read("sections").num_rows
    assert main(["ingest", str(pdf), "--out", uri, "--raw", "", "-q", "--force"]) == 0  # replaces, no duplicates
    store = open_store(uri)
    assert isinstance(store, ObjectStore)
    docs = store.read("documents").to_pylist()
    assert [d["doc_number"] for d in docs] == ["测府办〔2022〕3号"]
    assert store.read("sections").num_rows == first > 3
    assert store.read("runs").num_rows == 2
    assert isinstance(open_store("file:///tmp/x"), Store)


def test_log_rows_are_appended_and_compacted_with_the_snapshot(tmp_path):
    store = Store(tmp_path)
    for i in range(COMPACT_AT_FILES + 1):
        with store.transaction() as tx:
            tx.log("runs", run_row(f"r{i}"))
    assert sorted(store.read("runs").column("run_id").to_pylist()) == [f"r{i}" for i in range(COMPACT_AT_FILES + 1)]
    assert len(store.files("runs")) == 1  # compacted like any dataset
    count = duckdb.sql(f"select count(*) from read_parquet('{tmp_path}/runs/**/*.parquet', hive_partitioning = true)")
    assert count.fetchall()[0][0] == COMPACT_AT_FILES + 1
    with pytest.raises(ValueError):
        store.transaction().log("documents", run_row("x"))


def test_the_first_commit_of_only_log_rows_still_publishes_every_dataset(tmp_path):
    with Store(tmp_path).transaction() as tx:
        tx.log("runs", run_row("r1"))
    for name in DATASETS:
        assert (tmp_path / name).is_dir()  # no dangling link for a reader
    assert duckdb.sql(f"select count(*) from '{tmp_path}/runs/**/*.parquet'").fetchall()[0][0] == 1


def test_a_commit_that_changes_nothing_makes_no_snapshot(tmp_path):
    store = Store(tmp_path)
    put(store, "u1", documents=docs("u1", 1))
    before = store.current()
    with store.transaction():
        pass
    assert store.current() == before
    manifest = json.loads((before / "_manifest.json").read_text())
    assert manifest["snapshot"] == 1 and [f[1] for f in manifest["files"]["documents"]] == [1]


def test_of_two_inputs_of_one_unit_the_later_input_keeps_the_rows_whatever_ends_first(tmp_path):
    """Parses end in any order (two workers, a slow page before a fast one); the unit's rows
    come from the input that comes later in the run, not from the parse that ended last."""
    from pipeline.ingest import ResultWriter, process_source

    page = "<html><head><title>同一篇文章</title></head><body><article><p>正文同样的一段话，两份文件字节相同。</p></article></body></html>"
    results = []
    for name in ("a-original.html", "b-copy.html"):
        path = tmp_path / name
        path.write_text(page, encoding="utf-8")
        results.append(process_source(path, name))
    assert results[0].unit_id == results[1].unit_id
    store = Store(tmp_path / "out")
    with store.transaction() as tx:
        writer = ResultWriter(tx)
        writer.add(results[1], order=1)  # the later input's parse ended first
        writer.add(results[0], order=0)
    assert [d["source"] for d in store.read("documents").to_pylist()] == ["b-copy.html"]
    assert sorted(r["source"] for r in store.read("inputs").to_pylist()) == ["a-original.html", "b-copy.html"]
