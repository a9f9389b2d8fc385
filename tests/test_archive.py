"""An archive of many inputs: partitions, commits that touch only what changed, compaction under
SIGKILL, worker streams that lose only the document that broke them, re-runs that skip, and
the analysts' entry points (``gazette sql``, ``open_output``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from gazette.cli import main
from pipeline.api import open_output
from pipeline.isolation import ParseService
from pipeline.schema import DATASETS, PARTITION_FIELDS
from pipeline.storage import COMPACT_AT_FILES, KEEP_SNAPSHOTS, Store, open_store
from tests.conftest import ROOT, small_issue

YEARS = (2019, 2020, 2021)


def post(n: int, year: int) -> str:
    """A front-matter news post of ``year``, its own text."""
    return (f"---\nlayout: post\ntitle: \"第{n}条消息\"\ndate: {year}-05-26 14:18:58 +0800\ncategories: finance\n---\n\n"
            f"这是第{n}条消息的正文，央行今日开展了{n}亿元逆回购操作，市场流动性保持合理充裕。\n\n"
            f"市场人士认为，第{n}条消息说明货币政策保持稳健，利率平稳运行。\n")


@pytest.fixture
def inputs(tmp_path, pdf_factory) -> Path:
    """Posts in three years and two gazette issues: four partitions."""
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(9):
        (folder / f"p{n}.md").write_text(post(n, YEARS[n % 3]), encoding="utf-8")
    for n in (41, 42):
        (folder / f"gz{n}.pdf").write_bytes(pdf_factory(small_issue(n), f"archive-{n}.pdf").read_bytes())
    return folder


def _files(out: Path) -> dict[str, dict[str, int]]:
    """dataset -> {file path in the snapshot: inode}: the same inode is the same bytes, not rewritten."""
    snap = Store(out).snapshot()
    return {name: {f.path: os.stat(snap.path(f.path)).st_ino for f in files} for name, files in snap.manifest.files.items()}


def test_inputs_land_in_their_partitions(inputs, tmp_path):
    out = tmp_path / "out"
    assert main(["ingest", str(inputs), "--out", str(out), "--raw", "", "-q"]) == 0
    parts = {Path(p).parent.relative_to(Path(p).parts[0]).as_posix() for p in _files(out)["documents"]}
    assert parts == {"doc_kind=html/year=2019", "doc_kind=html/year=2020", "doc_kind=html/year=2021",
                     "doc_kind=gazette_pdf/year=2022"}
    rows = open_output(out).sql("SELECT doc_kind, year, count(*) FROM documents GROUP BY ALL ORDER BY ALL").fetchall()
    assert rows == [("gazette_pdf", 2022, 2), ("html", 2019, 3), ("html", 2020, 3), ("html", 2021, 3)]


def test_replacing_one_input_rewrites_only_its_partitions_files(inputs, tmp_path):
    out = tmp_path / "out"
    assert main(["ingest", str(inputs), "--out", str(out), "--raw", "", "-q"]) == 0
    before = _files(out)
    assert main(["ingest", str(inputs / "p4.md"), "--out", str(out), "--raw", "", "-q", "--force"]) == 0  # 2020
    after = _files(out)
    for name in DATASETS:
        if name == "runs":
            continue  # the run's own row
        gone = set(before[name].items()) - set(after[name].items())
        new = set(after[name].items()) - set(before[name].items())
        assert all("/year=2020/" in path for path, _ in gone | new), (name, gone, new)
    assert len(set(before["documents"].items()) - set(after["documents"].items())) == 1  # the file that held it
    assert sorted(d["title"] for d in Store(out).read("documents").to_pylist() if d["kind"] == "html") == [
        f"第{n}条消息" for n in range(9)]  # replaced, not duplicated


_COMPACTING_WRITER = """
import sys
from pipeline.storage import Store
with Store(sys.argv[1]).transaction() as tx:
    tx.put("unit_id", "last", "doc_kind=pdf/year=2021", {"documents": [{"unit_id": "last", "doc_id": "last-01"}]})
"""


def test_sigkill_during_compaction_leaves_the_previous_snapshot(tmp_path):
    out = tmp_path / "out"
    store = Store(out)
    for i in range(COMPACT_AT_FILES):  # small files: one more starts a compaction
        with store.transaction() as tx:
            tx.put("unit_id", f"u{i}", "doc_kind=pdf/year=2021", {"documents": [{"unit_id": f"u{i}", "doc_id": f"u{i}-01"}]})
    before, files = store.snapshot().manifest.number, _files(out)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GAZETTE_FAULTS": "compact=crash"}  # pipeline/faults.py
    killed = subprocess.run([sys.executable, "-c", _COMPACTING_WRITER, str(out)], env=env, timeout=120)
    assert killed.returncode == -9  # it died inside the compaction that one more small file starts
    assert store.snapshot().manifest.number == before and _files(out) == files
    assert sorted(r["unit_id"] for r in store.read("documents").to_pylist()) == [f"u{i}" for i in range(COMPACT_AT_FILES)]
    assert list((store.meta / "staging").iterdir())  # its merged file is left behind, unpublished
    subprocess.run([sys.executable, "-c", _COMPACTING_WRITER, str(out)], env={**env, "GAZETTE_FAULTS": ""}, check=True)
    assert len(store.files("documents")) == 1 and store.read("documents").num_rows == COMPACT_AT_FILES + 1
    assert list((store.meta / "staging").iterdir()) == []  # the killed commit's debris is swept


def _posts(folder: Path, names: list[str]) -> list[Path]:
    folder.mkdir(exist_ok=True)
    for n, name in enumerate(names):
        (folder / name).write_text(post(n, 2021), encoding="utf-8")
    return [folder / name for name in names]


def test_a_worker_takes_one_document_after_another(tmp_path):
    """No process start per post: one worker parses them all, in turn."""
    service = ParseService()
    try:
        seen = set()
        for path in _posts(tmp_path / "in", [f"s{n}.md" for n in range(4)]):
            assert service.parse(path, str(path)).documents
            seen.update(c.pid for c in _service_children(service))
        assert len(seen) == 1
    finally:
        service.close()


def _service_children(service: ParseService) -> list:
    import psutil

    return psutil.Process(service._conn.proc.pid).children()


def test_a_worker_that_dies_mid_stream_costs_only_its_current_document(tmp_path, inject_faults, capsys):
    paths = _posts(tmp_path / "in", ["a.md", "b.md", "c_crash.md", "d.md", "e.md"])
    inject_faults("parse=crash@c_crash")  # the worker kills itself (SIGKILL) on that document
    out = tmp_path / "out"
    assert main(["ingest", *map(str, paths), "--out", str(out), "--raw", "", "-q", "--workers", "1"]) == 1
    store = Store(out)
    assert [(Path(e["source"]).name, e["error_type"]) for e in store.read("errors").to_pylist()] == [
        ("c_crash.md", "worker_died")]
    assert sorted(Path(d["source"]).name for d in store.read("documents").to_pylist()) == ["a.md", "b.md", "d.md", "e.md"]
    assert "killed by signal 9" in capsys.readouterr().err


def test_a_document_past_its_budget_mid_stream_costs_only_itself(tmp_path, inject_faults):
    paths = _posts(tmp_path / "in", ["a.md", "b_hang.md", "c.md"])
    inject_faults("parse=hang@b_hang")
    out = tmp_path / "out"
    code = main(["ingest", *map(str, paths), "--out", str(out), "--raw", "", "-q", "--workers", "1", "--timeout", "0.5"])
    assert code == 1
    store = Store(out)
    assert [(Path(e["source"]).name, e["error_type"]) for e in store.read("errors").to_pylist()] == [("b_hang.md", "timeout")]
    assert sorted(Path(d["source"]).name for d in store.read("documents").to_pylist()) == ["a.md", "c.md"]


# Small pages wait in a worker's pipe, many at a time (``isolation.WORKER_QUEUE_DOCS``): the
# documents queued behind one that breaks its worker were sent to that worker, never started.
QUEUED = 40


def test_a_crash_deep_in_a_stream_of_small_pages_costs_only_that_page(tmp_path, inject_faults):
    names = [f"q{n:02d}{'-dies' if n == 17 else ''}.md" for n in range(QUEUED)]  # (a marker no tmp folder holds)
    paths = _posts(tmp_path / "in", names)
    inject_faults("parse=crash@-dies")
    out = tmp_path / "out"
    assert main(["ingest", *map(str, paths), "--out", str(out), "--raw", "", "-q", "--workers", "1"]) == 1
    store = Store(out)
    assert [(Path(e["source"]).name, e["error_type"]) for e in store.read("errors").to_pylist()] == [
        ("q17-dies.md", "worker_died")]
    assert sorted(Path(d["source"]).name for d in store.read("documents").to_pylist()) == [
        n for n in names if "-dies" not in n]


def test_a_page_past_its_budget_deep_in_a_stream_costs_only_itself(tmp_path, inject_faults):
    names = [f"q{n:02d}{'-hangs' if n == 17 else ''}.md" for n in range(QUEUED)]
    paths = _posts(tmp_path / "in", names)
    inject_faults("parse=hang@-hangs")
    out = tmp_path / "out"
    code = main(["ingest", *map(str, paths), "--out", str(out), "--raw", "", "-q", "--workers", "2", "--timeout", "0.5"])
    assert code == 1
    store = Store(out)
    assert [(Path(e["source"]).name, e["error_type"]) for e in store.read("errors").to_pylist()] == [
        ("q17-hangs.md", "timeout")]
    assert len(store.read("documents")) == QUEUED - 1


def test_each_document_keeps_its_own_settings_in_one_stream(tmp_path):
    """A run's settings go to the service and to each worker once; documents with other
    settings, sent in between on the same connection, are parsed with theirs."""
    from pipeline.settings import Settings

    paths = _posts(tmp_path / "in", [f"s{n}.md" for n in range(6)])
    tight = Settings(max_html_bytes=100)  # every post is larger: refused as too_large
    service = ParseService()
    try:
        futures = [service.submit(path, path.name, tight if n % 3 == 1 else None) for n, path in enumerate(paths)]
        kinds = [[e.error_type for e in f.result(timeout=120).errors] for f in futures]
    finally:
        service.close()
    assert kinds == [[], ["too_large"], [], [], ["too_large"], []]


def test_ingest_skips_what_this_pipeline_version_processed_and_force_parses_it(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["ingest", str(inputs), "--out", str(out), "--raw", "", "-q"]) == 0
    first = capsys.readouterr().out
    assert "skipped" not in first
    (inputs / "new.md").write_text(post(99, 2021), encoding="utf-8")
    assert main(["ingest", str(inputs), "--out", str(out), "--raw", "", "-q"]) == 0
    second = capsys.readouterr().out
    assert second.splitlines()[0].startswith("1 inputs: 1 documents")
    assert "skipped 11 inputs already processed by pipeline" in second
    assert main(["ingest", str(inputs), "--out", str(out), "--raw", "", "-q", "--force"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("12 inputs: 12 documents")
    runs = sorted(Store(out).read("runs").to_pylist(), key=lambda r: r["started_at"])
    assert [(r["documents"], r["skipped"]) for r in runs] == [(11, 0), (1, 11), (12, 0)]
    assert Store(out).read("documents").num_rows == 12  # re-parsed, replaced


def test_an_input_that_timed_out_is_parsed_again_next_run(tmp_path, inject_faults):
    [path] = _posts(tmp_path / "in", ["slow.md"])
    out = tmp_path / "out"
    inject_faults("parse=hang@slow")
    assert main(["ingest", str(path), "--out", str(out), "--raw", "", "-q", "--timeout", "0.5"]) == 1
    inject_faults("")
    assert main(["ingest", str(path), "--out", str(out), "--raw", "", "-q"]) == 0  # retried, not skipped
    assert Store(out).read("errors").num_rows == 0 and Store(out).read("documents").num_rows == 1


def test_every_column_carries_its_description(inputs, tmp_path):
    out = tmp_path / "out"
    assert main(["ingest", str(inputs), "--out", str(out), "--raw", "", "-q"]) == 0
    for name, schema in DATASETS.items():
        assert all(f.metadata and f.metadata[b"description"] for f in schema), name
        for path in Store(out).files(name):
            assert pq.read_schema(path).field("unit_id" if name not in ("runs", "fetches") else 0).metadata[b"description"]
    assert open_output(out).dataset("documents").schema.field("year") == PARTITION_FIELDS["year"]


def test_gazette_sql_sees_every_dataset_under_its_name(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["ingest", str(inputs), "--out", str(out), "--raw", "", "-q"]) == 0
    capsys.readouterr()
    counts = " UNION ALL ".join(f"SELECT '{n}' AS dataset, count(*) AS n FROM {n}" for n in DATASETS)
    assert main(["sql", counts, "--out", str(out), "--csv"]) == 0
    rows = dict(line.replace('"', "").split(",") for line in capsys.readouterr().out.splitlines()[1:])
    assert rows["documents"] == "11" and rows["inputs"] == "11" and rows["runs"] == "1" and rows["fetches"] == "0"


def test_an_object_store_replaces_a_unit_in_its_partition_and_deletes_replaced_files_later():
    store = open_store("memory://archive/out")

    def commit(unit: str, partition: str, title: str) -> None:
        with store.transaction() as tx:
            tx.put("unit_id", unit, partition, {"documents": [{"unit_id": unit, "doc_id": f"{unit}-01", "title": title}]})

    commit("a", "doc_kind=html/year=2020", "a1")
    commit("b", "doc_kind=html/year=2021", "b1")
    [a_file] = [f for f in store.files("documents") if "year=2020" in f]
    [b_file] = [f for f in store.files("documents") if "year=2021" in f]
    commit("a", "doc_kind=html/year=2020", "a2")  # replaces a: its file goes, b's stays as it is
    assert sorted((d["doc_id"], d["title"]) for d in store.read("documents").to_pylist()) == [("a-01", "a2"), ("b-01", "b1")]
    assert b_file in store.files("documents") and a_file not in store.files("documents")
    assert store.fs.get_file_info(a_file).size  # still there for a reader of the previous snapshot
    for i in range(KEEP_SNAPSHOTS):
        commit(f"c{i}", "doc_kind=html/year=2021", "c")
    assert store.fs.get_file_info(a_file).type.name == "NotFound"
    # the analysts' entry point reads it through the manifest, as any output
    out = open_output("memory://archive/out")
    assert out.sql("SELECT year, count(*) FROM documents GROUP BY 1 ORDER BY 1").fetchall() == [(2020, 1), (2021, 3)]
    assert out.sql("SELECT count(*) FROM sections").fetchall() == [(0,)]  # an empty dataset is a view too


def test_gazette_sql_on_an_output_not_written_yet(tmp_path, capsys):
    assert main(["sql", "SELECT count(*) AS n FROM documents", "--out", str(tmp_path / "nothing"), "--csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["\"n\"", "0"]


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_dask_runner_writes_to_an_fsspec_filesystem(pdf_factory, tmp_path):
    """The flow on a local 2-worker Dask cluster, into an output behind fsspec's local filesystem
    (the object-store code path: manifest, no symlinks), gives the rows the default runner gives."""
    import flows.pipeline_flows as pf
    from pipeline.settings import Settings

    paths = [str(pdf_factory(small_issue(n), f"fs{n}.pdf")) for n in (1, 2)]
    pf.ingest(paths, out=str(tmp_path / "a"), raw=str(tmp_path / "raw"))
    uri = f"local://{tmp_path / 'b'}"
    pf.with_runner(pf.ingest, "dask")(paths, out=uri, raw=str(tmp_path / "raw"), settings=Settings(max_pages=2999))
    assert type(open_store(uri)).__name__ == "ObjectStore"
    for name in ("documents", "sections", "removed", "toc_checks"):
        drop = {"processed_at"}
        a, b = Store(tmp_path / "a").read(name), open_store(uri).read(name)
        assert sorted(map(str, a.drop_columns([c for c in drop if c in a.column_names]).to_pylist())) == sorted(
            map(str, b.drop_columns([c for c in drop if c in b.column_names]).to_pylist()))


def test_a_rerun_reads_only_the_inputs_whose_file_changed(tmp_path):
    from pipeline.hashcache import RACY_S, HashCache, sha256_file

    folder = tmp_path / "in"
    paths = _posts(folder, ["a.md", "b.md", "c.md"])
    old = time.time() - 10 * RACY_S
    for p in paths:
        os.utime(p, (old, old))  # settled: written well before the cache is saved
    cache_file = tmp_path / "hashes.json"
    first = HashCache(cache_file)
    assert [first.sha256(p) for p in paths] == [sha256_file(p) for p in paths] and first.read == 3
    first.save()
    paths[1].write_text(post(7, 2021), encoding="utf-8")  # changed (and too recent to be remembered)
    second = HashCache(cache_file)
    assert [second.sha256(p) for p in paths] == [sha256_file(p) for p in paths]
    assert second.read == 1  # only the changed file was read
    second.save()
    assert HashCache(cache_file).entries.keys() == first.entries.keys() - {os.path.abspath(paths[1])}


def test_the_cold_run_leaves_the_sha256_of_what_it_parsed_for_the_next(tmp_path, capsys):
    from pipeline.hashcache import RACY_S, HashCache

    paths = _posts(tmp_path / "in", ["a.md", "b.md"])
    old = time.time() - 10 * RACY_S
    for p in paths:
        os.utime(p, (old, old))
    out = tmp_path / "out"
    assert main(["ingest", str(tmp_path / "in"), "--out", str(out), "--raw", "", "-q"]) == 0
    cache = HashCache(out / ".gazette" / "input-hashes.json")
    assert [cache.sha256(p) for p in paths] == [d["raw_sha256"] for d in sorted(
        Store(out).read("documents").to_pylist(), key=lambda d: d["source"])]
    assert cache.read == 0  # both were learnt from the parse, none is read again


def test_an_input_whose_rows_the_schema_refuses_gets_an_errors_row_and_the_batch_goes_on(tmp_path):
    from pipeline.ingest import ResultWriter, process_source

    good, bad = _posts(tmp_path / "in", ["good.md", "bad.md"])
    results = [process_source(good), process_source(bad)]
    results[1].documents[0].page_start = "page one"  # not an int32: the conversion of the batch fails
    store = Store(tmp_path / "out")
    with store.transaction() as tx:
        writer = ResultWriter(tx)
        for r in results:
            writer.add(r)
    assert [(e.source, e.stage, e.error_type) for e in writer.refused] == [(str(bad), "write", "rows_refused")]
    assert [d["source"] for d in store.read("documents").to_pylist()] == [str(good)]
    assert [(e["source"], e["error_type"]) for e in store.read("errors").to_pylist()] == [(str(bad), "rows_refused")]
    assert {r["source"]: r["status"] for r in store.read("inputs").to_pylist()} == {str(good): "ok", str(bad): "error"}


def test_the_run_row_is_the_row_any_conversion_gives():
    """``run_table`` reads its one row through Arrow's JSON reader (no pandas import for a run
    that parses nothing): the same table, types, time zone and descriptions as the usual
    conversion of the same values."""
    import datetime as dt

    from pipeline.rows import _table, run_table

    started = dt.datetime(2026, 12, 2, 14, 31, 59, 708908, tzinfo=dt.UTC)
    counts = {"documents": 3, "sections": 40, "tables": 1, "removed": 12, "warnings": 2, "errors": 1}
    inputs = ["raw/samples/广东省人民政府公报.pdf", "in/news 1.html", 'in/"quoted"\\name.md']
    table = run_table("abc123", "cli-ingest", inputs, counts, started, 12.34567, 5)
    expected = _table("runs", [{"run_id": "abc123", "flow": "cli-ingest", "inputs": inputs, **counts, "skipped": 5,
                                "started_at": started, "duration_s": 12.346, "pipeline_version": table["pipeline_version"][0].as_py()}])
    assert table.equals(expected, check_metadata=True)
    assert table.to_pylist()[0]["started_at"] == started
