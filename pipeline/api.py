"""The library's entry points, what the ``gazette`` command calls: ``ingest`` inputs into an
output, ``validate`` its 目录 checks, list its ``tables``, and ``open_output`` for analysis.

    from pipeline.api import ingest, validate, tables
    run = ingest(["raw/samples"], out="output")      # = gazette ingest raw/samples --out output
    run.summary.documents, run.skipped, run.errors
    report = validate("output")                       # = gazette validate --out output
    report.text, report.failing

Open an output for analysis in one call, without knowing its file layout.

    from pipeline.api import open_output

    out = open_output("output")                     # a local directory or any --out URI
    out.sql("SELECT year, count(*) FROM documents GROUP BY 1").fetchall()   # DuckDB
    out.relation("sections").filter("level = 'chapter'").df()               # a DuckDB relation
    out.dataset("documents").to_table(filter=ds.field("year") == 2021)      # a pyarrow dataset
    out.table(doc_id, "t1")                         # one table, typed columns

Everything reads the snapshot that was current when ``open_output`` ran, with every dataset
under its own name and the partition columns ``doc_kind`` and ``year`` added (logs: ``year``).
The output keeps the snapshot before the current one too, so an ``Output`` stays readable
across the next commit; open a new one to see later commits. ``gazette sql`` is this call
on the command line.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from pipeline.hashcache import HashCache
from pipeline.ingest import (
    INPUT_SUFFIXES,
    Candidate,
    InputError,
    ResultWriter,
    Summary,
    failed_result,
    find_inputs,
    open_input,
    processed_inputs,
    store_raw,
)
from pipeline.isolation import Job, start_parse_service, stream_jobs
from pipeline.model import ErrorRecord, SourceResult
from pipeline.rawstore import RawStore
from pipeline.report import render_report
from pipeline.rows import run_table, typed_from_cells
from pipeline.schema import DATASETS, PARTITION_FIELDS, PARTITION_KEYS
from pipeline.settings import Settings, resolve
from pipeline.storage import Snapshot, Store, open_store

if TYPE_CHECKING:  # imported where they are used: ``gazette ingest`` need not pay for them at start
    import duckdb
    import pyarrow.dataset as ds


class Output:
    """One snapshot of an output: DuckDB views and Arrow datasets of every dataset."""

    def __init__(self, location: str | Path) -> None:
        self.store = open_store(location)
        self.snapshot: Snapshot | None = self.store.snapshot()
        self._con: duckdb.DuckDBPyConnection | None = None

    @property
    def number(self) -> int:
        """The snapshot's number (0 before the first commit)."""
        return self.snapshot.manifest.number if self.snapshot else 0

    def schema(self, name: str) -> pa.Schema:
        """A dataset's columns, described, with its partition columns last."""
        fields = [PARTITION_FIELDS[k] for k in PARTITION_KEYS[name]]
        return pa.schema([*DATASETS[name], *fields], metadata=DATASETS[name].metadata)

    def dataset(self, name: str) -> ds.Dataset:
        """A pyarrow dataset of the snapshot's files (filters on ``doc_kind``/``year`` skip partitions)."""
        import pyarrow.dataset as ds  # (imports pandas when it is installed)

        schema = self.schema(name)
        files = self.snapshot.files(name) if self.snapshot else []
        if not files:
            return ds.dataset(schema.empty_table())
        partitioning = ds.partitioning(pa.schema([PARTITION_FIELDS[k] for k in PARTITION_KEYS[name]]), flavor="hive")
        return ds.dataset(files, schema=schema, format="parquet", filesystem=self.store.fs,
                          partitioning=partitioning, partition_base_dir=self.snapshot.path(name))

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with one view per dataset, named after it."""
        if self._con is None:
            import duckdb

            con = duckdb.connect()
            for name in DATASETS:
                files = self.snapshot.files(name) if self.snapshot else []
                if files and isinstance(self.store, Store):  # DuckDB's own reader, on the exact files
                    con.sql(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({_sql_list(files)}, "
                            "hive_partitioning = true)")
                else:  # an object store through its filesystem, or an empty dataset
                    con.register(name, self.dataset(name))
            self._con = con
        return self._con

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """Run DuckDB SQL over the datasets (``FROM documents JOIN sections USING (doc_id)``)."""
        return self.connect().sql(query)

    def relation(self, name: str) -> duckdb.DuckDBPyRelation:
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}: {', '.join(DATASETS)}")
        return self.connect().table(name)

    def table(self, doc_id: str, table_id: str) -> pa.Table:
        """One printed table with its own columns (named after its header, numeric where every
        value is a plain number), built from its ``table_cells`` rows."""
        import pyarrow.dataset as ds

        match = (ds.field("doc_id") == doc_id) & (ds.field("table_id") == table_id)
        index = self.dataset("tables").to_table(filter=match, columns=["n_rows", "n_cols"]).to_pylist()
        if not index:
            raise KeyError(f"no table {table_id} in document {doc_id}")
        cells = self.dataset("table_cells").to_table(filter=match)
        return typed_from_cells(cells, index[0]["n_rows"] or 0, index[0]["n_cols"] or 0)


def open_output(location: str | Path = "output") -> Output:
    """The current snapshot of the output at ``location`` (a directory or a URI)."""
    return Output(location)


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


# --- ingest, validate, tables --------------------------------------------------------------------


class UsageError(ValueError):
    """The call cannot run as asked (no input, an output that cannot be written or read)."""


@dataclass
class IngestRun:
    """What ``ingest`` did: the summary of the parsed inputs, the inputs skipped because this
    pipeline version had processed their bytes, and every error (also in ``errors``)."""

    out: str
    summary: Summary
    skipped: int = 0
    inputs: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[ErrorRecord]:
        return self.summary.errors


def check_output(out: str) -> str | None:
    """Why ``out`` cannot take an output (checked before any input is read), or None."""
    if not out.strip():
        return "--out is empty: name an output directory"
    if "://" in out and not out.startswith("file://"):
        return None  # an object store: it says so itself when it is written
    root = Path(out.removeprefix("file://"))
    if root.exists() and not root.is_dir():
        return f"--out {out} is not a directory"
    for public in DATASETS:  # the output's one link per dataset
        link = root / public
        if link.exists() and not link.is_symlink():
            return f"--out {out}: {link} exists and is not a gazette dataset link: choose another --out"
    try:
        (root / ".gazette").mkdir(parents=True, exist_ok=True)
        probe = root / ".gazette" / f".probe-{uuid.uuid4().hex}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        return f"--out {out} is not writable ({type(exc).__name__}: {exc.strerror})"
    return None


def ingest(paths: Iterable[str | Path], out: str = "output", *, raw: str | None = "raw", workers: int = 1,
           force: bool = False, isolate: bool = True, settings: Settings | dict | None = None,
           on_start: Callable[[int], None] | None = None,
           on_result: Callable[[SourceResult], None] | None = None) -> IngestRun:
    """Parse PDFs, HTML pages and posts (files, or the input files in folders) into ``out``.

    Each input is checked (a regular file inside its folder), copied into the raw store
    ``raw`` (None: not kept), and parsed in a worker process with its time budget and its
    share of the memory budget, ``workers`` at a time; inputs whose bytes this pipeline
    version has processed are skipped unless ``force``. Results stream into one snapshot,
    committed at the end. A bad input costs its own ``errors`` row, never the run.
    ``on_start(n)`` learns how many inputs will be parsed, ``on_result`` sees each result.
    Raises ``UsageError`` when there is no input or ``out`` cannot be written.
    """
    started, t0 = dt.datetime.now(dt.UTC), time.perf_counter()
    candidates = find_inputs(paths)
    if not candidates:
        raise UsageError(f"no input files ({', '.join(INPUT_SUFFIXES)}) in {' '.join(map(str, paths))}")
    problem = check_output(out)
    if problem:
        raise UsageError(problem)
    settings = resolve(settings).with_(parse_workers=workers)
    store = open_store(out)
    done_before = set() if force else processed_inputs(store)
    hashes = HashCache(store.meta / "input-hashes.json" if isinstance(store, Store) else None)
    # the parse service (a process that imports the parsers) starts with the first input to parse,
    # while the rest are checked; a run that skips everything never starts it
    first_job = (lambda: start_parse_service(wait=False)) if isolate else None
    refused, jobs, skipped = _jobs(candidates, RawStore(raw) if raw else None, settings, done_before, hashes,
                                   first_job)
    if on_start:
        on_start(len(jobs))
    run = IngestRun(out, Summary(), skipped, [str(c.path) for c in candidates])
    with store.transaction() as tx:  # results stream into the output's files; one snapshot at the end
        writer = ResultWriter(tx)
        for result in refused:
            run.summary.add(result)
            writer.add(result)
        for i, result in stream_jobs(jobs, settings, workers=workers, isolate=isolate):
            run.summary.add(result)
            writer.add(result, order=i)
            hashes.parsed(result.source, result.raw_sha256)
            if on_result:
                on_result(result)
        tx.flush()  # every row is converted now: an input whose rows the schema refuses is known
        run.summary.errors += writer.refused
        tx.log("runs", run_table(uuid.uuid4().hex[:12], "cli-ingest", run.inputs, run.summary.counts(), started,
                                 time.perf_counter() - t0, skipped))
    hashes.save()
    return run


def _jobs(candidates: Sequence[Candidate], raw: RawStore | None, settings: Settings, done_before: set[str],
          hashes: HashCache, first_job: Callable[[], None] | None = None) -> tuple[list[SourceResult], list[Job], int]:
    """(failed results, parse jobs, inputs skipped). Each input that is read here is checked first
    (a regular file inside its folder, not too large: else its failed result); its bytes are copied into the
    raw store, which keeps them for ``gazette reprocess`` (a failed copy is that input's error,
    not the batch's); an input whose bytes this pipeline version has processed is skipped.
    ``first_job()`` is called when the first parse job is known."""
    refused: list[SourceResult] = []
    jobs: list[Job] = []
    skipped = 0
    for c in candidates:
        if c.plain and done_before and (sha := hashes.known(c.path)) in done_before and (raw is None or raw.has(sha)):
            skipped += 1  # nothing to read: its bytes, unchanged, were processed by this version and are kept
            continue
        reads_here = bool(done_before) or raw is not None  # its bytes are hashed or copied below
        try:
            if reads_here:  # else the parse makes the same checks, and nothing here reads the file
                with open_input(c.path, c.root, settings.max_file_bytes):
                    pass  # the checks only: the bytes are read below
        except InputError as exc:
            refused.append(failed_result(str(c.path), None, exc.stage, exc.reason, str(exc)))
            continue
        sha = hashes.sha256(c.path) if reads_here else None
        if raw is not None and not raw.has(sha):
            stored = store_raw(raw, c.path, c.root, settings)
            if isinstance(stored, SourceResult):
                refused.append(stored)
                continue
        if sha is not None and sha in done_before:
            skipped += 1
            continue
        hashes.before_parse(c.path)  # the parse reads its bytes: their sha256 is remembered for the next run
        if first_job is not None and not jobs:
            first_job()
        jobs.append(Job(c.path, str(c.path), {"root": str(c.root)}))
    return refused, jobs, skipped


@dataclass
class Validation:
    """The 目录 check of an output: a readable report, and whether any entry is missing, out of
    order or extra (what ``gazette validate --strict`` fails on)."""

    text: str
    failing: bool


def _written(out: str) -> Store:
    store = open_store(out)
    if isinstance(store, Store) and store.current() is None:
        raise UsageError(f"no gazette output in {out} (run gazette ingest --out {out} first)")
    return store


def validate(out: str = "output") -> Validation:
    """Every document's 目录 check, as a report. Raises ``UsageError`` without an output."""
    store = _written(out)
    text, failing = render_report(store.read("documents"), store.read("toc_checks"))
    return Validation(text, failing)


def tables(out: str = "output") -> pa.Table:
    """The ``tables`` dataset (one row per printed table), by document and table. Raises
    ``UsageError`` without an output."""
    return _written(out).read("tables").sort_by([("doc_id", "ascending"), ("table_id", "ascending")])
