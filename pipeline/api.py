"""Open an output for analysis in one call, without knowing its file layout.

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

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from pipeline.rows import typed_from_cells
from pipeline.schema import DATASETS, PARTITION_FIELDS, PARTITION_KEYS
from pipeline.storage import Snapshot, Store, open_store


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
