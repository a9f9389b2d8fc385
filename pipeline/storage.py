"""Parquet output with atomic, all-datasets-at-once commits.

Layout of an output directory::

    output/
      documents -> .gazette/current/documents        (stable symlinks, one per dataset)
      sections, table_cells, removed, toc_checks, errors, inputs   (likewise)
      tables.parquet -> .gazette/current/tables.parquet   (the ``tables`` dataset, one file)
      tables -> .gazette/current/table_files         (tables/<doc_id>/<table_id>.parquet)
      runs -> .gazette/log/runs, fetches -> .gazette/log/fetches   (append-only logs)
      .gazette/current -> snapshots/000042            (swapped atomically)
      .gazette/snapshots/000042/<dataset>/<unit_id>.parquet
      .gazette/log/<runs|fetches>/<run_id>.parquet
      .gazette/lock

The ``tables`` dataset is published as one file, ``tables.parquet``, because the folder
``tables/`` holds each table as its own typed Parquet file (different columns per table),
which a dataset reader must not mix with the index rows.

A commit builds the next snapshot beside the current one (unchanged part files are hard
links, so it costs little), renames it into place and swaps the ``current`` symlink with
``os.replace``. A reader opening ``output/<dataset>`` sees either the old snapshot or the
new one in every dataset, never a mix; a process killed at any moment leaves ``current``
on a complete snapshot, and the next commit sweeps the debris. Commits hold an exclusive
``flock``, and each one starts from the then-current snapshot, so two concurrent runs
serialise and neither loses the other's documents. Re-processing an input replaces its
``<unit_id>.parquet`` part in every dataset: rows are replaced, never duplicated.

``runs`` and ``fetches`` are logs, not snapshot data: a run only ever adds its own part
file (written to a temporary name and renamed into place), so a run that changed nothing
else (every input unchanged) costs one small file instead of a snapshot. A commit writes
its log parts after the snapshot swap: a run's row never shows before its data.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipeline.schema import DATASETS, LOG_DATASETS, SCHEMA_VERSION, with_version

PER_TABLE_DIR = "table_files"  # published as output/tables/
SNAPSHOT_DATASETS = tuple(name for name in DATASETS if name not in LOG_DATASETS)
# output/<name> -> its target below output/
PUBLIC_LINKS = {name: Path(".gazette", "current", name) for name in SNAPSHOT_DATASETS if name != "tables"} | {
    "tables.parquet": Path(".gazette", "current", "tables.parquet"),
    "tables": Path(".gazette", "current", PER_TABLE_DIR),
} | {name: Path(".gazette", "log", name) for name in LOG_DATASETS}
KEEP_SNAPSHOTS = 2


class SchemaMismatch(RuntimeError):
    pass


def _safe_name(key: str) -> str:
    if not key or key.startswith(".") or "/" in key or "\\" in key or "\x00" in key:
        raise ValueError(f"unsafe part name {key!r}")
    return key


class Store:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.meta = self.root / ".gazette"
        self.snapshots = self.meta / "snapshots"

    # --- reading ----------------------------------------------------------------------

    def current(self) -> Path | None:
        link = self.meta / "current"
        return link.resolve() if link.exists() else None

    def dataset_path(self, name: str) -> Path:
        return self.root / name

    def read(self, name: str, filter=None, columns: list[str] | None = None) -> pa.Table:
        """A whole dataset (empty table of the right schema when nothing is there yet)."""
        if name in LOG_DATASETS:
            return self._read_files(self._log_files(name), name, filter, columns)
        snap = self.current()
        if snap is None:
            return self._read_files([], name, filter, columns)
        return self._read_dir(snap / name, name, filter, columns)

    def _log_files(self, name: str) -> list[Path]:
        """A log's parts; an output written before logs left the snapshots still has its old parts there."""
        files = {f.name: f for f in _parquet_files(self.meta / "log" / name)}
        snap = self.current()
        for f in _parquet_files(snap / name) if snap else []:
            files.setdefault(f.name, f)
        return sorted(files.values())

    @classmethod
    def _read_dir(cls, folder: Path, name: str, filter=None, columns: list[str] | None = None) -> pa.Table:
        return cls._read_files(_parquet_files(folder), name, filter, columns)

    @staticmethod
    def _read_files(files: list[Path], name: str, filter=None, columns: list[str] | None = None) -> pa.Table:
        if not files:
            empty = DATASETS[name].empty_table()
            return empty.select(columns) if columns else empty
        dataset = ds.dataset([str(f) for f in files], schema=DATASETS[name], format="parquet")
        return dataset.to_table(filter=filter, columns=columns)

    def read_table_file(self, doc_id: str, table_id: str) -> pa.Table:
        snap = self.current()
        return pq.read_table(snap / PER_TABLE_DIR / _safe_name(doc_id) / f"{_safe_name(table_id)}.parquet")

    def units(self) -> set[str]:
        snap = self.current()
        folder = snap / "documents" if snap else None
        return {p.stem for p in folder.glob("*.parquet")} if folder and folder.exists() else set()

    # --- writing ----------------------------------------------------------------------

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.meta.mkdir(parents=True, exist_ok=True)
        with open(self.meta / "lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def commit(
        self,
        parts: Mapping[str, Mapping[str, pa.Table]],
        table_files: Mapping[str, pa.Table] | None = None,
        replace_units: set[str] | None = None,
    ) -> Path:
        """Write ``parts`` ({dataset: {part_key: table}}) as one new snapshot.

        ``replace_units``: units whose old parts (in every unit dataset) and per-table files
        are dropped, even where the new result writes none (a document that now fails).
        ``table_files``: ``<doc_id>/<table_id>`` -> typed per-table data.
        """
        replace_units = set(replace_units or ())
        for dataset in parts:
            if dataset not in DATASETS:
                raise ValueError(f"unknown dataset {dataset!r}")
        logs = {name: parts[name] for name in LOG_DATASETS if parts.get(name)}
        data = {name: by_key for name, by_key in parts.items() if name not in LOG_DATASETS and by_key}
        with self._lock():
            final = self.current()
            self._check_version(final)
            self._adopt_old_logs()
            if data or table_files or replace_units or final is None:
                final = self._commit_snapshot(data, table_files, replace_units)
            self._append_logs(logs)
            self._ensure_links()
            return final

    def append(self, name: str, parts: Mapping[str, pa.Table]) -> None:
        """Add parts to a log dataset (``runs``, ``fetches``) without a new snapshot."""
        if name not in LOG_DATASETS:
            raise ValueError(f"{name!r} is not a log dataset: {', '.join(LOG_DATASETS)}")
        with self._lock():
            self._check_version(self.current())
            self._adopt_old_logs()
            self._append_logs({name: parts})
            self._ensure_links()

    def _append_logs(self, logs: Mapping[str, Mapping[str, pa.Table]]) -> None:
        for name, by_key in logs.items():
            folder = self.meta / "log" / name
            for key, table in by_key.items():
                tmp = folder / f".tmp-{uuid.uuid4().hex}.parquet"
                _write(table.cast(DATASETS[name]), tmp)
                os.replace(tmp, folder / f"{_safe_name(key)}.parquet")
            _fsync_dir(folder)

    def _adopt_old_logs(self) -> None:
        """Create the log folders; an output from before logs left the snapshots has its parts carried over."""
        for name in LOG_DATASETS:
            folder = self.meta / "log" / name
            if folder.is_dir():
                continue
            tmp = self.meta / "log" / f".tmp-{name}-{uuid.uuid4().hex}"
            tmp.mkdir(parents=True)
            snap = self.current()
            for f in _parquet_files(snap / name) if snap else []:
                os.link(f, tmp / f.name)
            os.rename(tmp, folder)

    def _commit_snapshot(self, parts, table_files, replace_units: set[str]) -> Path:
        old = self.current()
        self.snapshots.mkdir(parents=True, exist_ok=True)
        self._sweep(old)
        number = int(old.name) + 1 if old else 1
        tmp = self.snapshots / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        changed = set()
        for name in SNAPSHOT_DATASETS:
            (tmp / name).mkdir()
            new_keys = set(parts.get(name, {}))
            if old and (old / name).exists():
                for f in (old / name).glob("*.parquet"):
                    if f.stem not in new_keys and f.stem not in replace_units:
                        os.link(f, tmp / name / f.name)
                    else:
                        changed.add(name)
            for key, table in parts.get(name, {}).items():
                _write(table.cast(DATASETS[name]), tmp / name / f"{_safe_name(key)}.parquet")
                changed.add(name)
        self._table_files(old, tmp, table_files or {}, replace_units)
        if old and "tables" not in changed and (old / "tables.parquet").exists():
            os.link(old / "tables.parquet", tmp / "tables.parquet")  # no table changed
        else:
            _write(self._read_dir(tmp / "tables", "tables"), tmp / "tables.parquet")
        (tmp / "_meta.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION, "snapshot": number}))
        _fsync_dir(tmp)
        final = self.snapshots / f"{number:06d}"
        os.rename(tmp, final)
        link_tmp = self.meta / f".current-{uuid.uuid4().hex}"
        os.symlink(Path("snapshots") / final.name, link_tmp)
        os.replace(link_tmp, self.meta / "current")
        _fsync_dir(self.meta)
        self._prune()
        return final

    def _table_files(self, old: Path | None, tmp: Path, files: Mapping[str, pa.Table], replace_units: set[str]) -> None:
        out = tmp / PER_TABLE_DIR
        out.mkdir()
        new_docs = {key.split("/")[0] for key in files}
        if old and (old / PER_TABLE_DIR).exists():
            for doc_dir in (old / PER_TABLE_DIR).iterdir():
                if not doc_dir.is_dir() or doc_dir.name in new_docs:
                    continue
                if any(doc_dir.name.startswith(u + "-") for u in replace_units):
                    continue
                (out / doc_dir.name).mkdir()
                for f in doc_dir.glob("*.parquet"):
                    os.link(f, out / doc_dir.name / f.name)
        for key, table in files.items():
            doc_id, table_id = key.split("/")
            (out / _safe_name(doc_id)).mkdir(exist_ok=True)
            _write(table, out / doc_id / f"{_safe_name(table_id)}.parquet")

    def _check_version(self, snap: Path | None) -> None:
        if snap is None or not (snap / "_meta.json").exists():
            return
        found = json.loads((snap / "_meta.json").read_text()).get("schema_version")
        if found != SCHEMA_VERSION:
            raise SchemaMismatch(
                f"{self.root} holds schema version {found}, this pipeline writes {SCHEMA_VERSION}: "
                "write to a new --out directory (gazette reprocess --all reads the raw store)"
            )

    def _ensure_links(self) -> None:
        for public, target in PUBLIC_LINKS.items():
            link = self.root / public
            if link.is_symlink() and Path(os.readlink(link)) == target:
                continue
            if link.exists() and not link.is_symlink():
                raise RuntimeError(f"{link} exists and is not a gazette dataset link")
            tmp = self.root / f".{public}-{uuid.uuid4().hex}"
            os.symlink(target, tmp)
            os.replace(tmp, link)  # a link from an older layout is swapped, never missing

    def _sweep(self, keep: Path | None) -> None:
        """Remove what a killed commit left behind."""
        for p in self.snapshots.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
        for p in [*self.meta.glob(".current-*"), *self.meta.glob("log/*/.tmp-*")]:
            p.unlink(missing_ok=True)
        for p in self.meta.glob("log/.tmp-*"):
            shutil.rmtree(p, ignore_errors=True)

    def _prune(self) -> None:
        snaps = sorted(p for p in self.snapshots.iterdir() if p.name.isdigit())
        for p in snaps[:-KEEP_SNAPSHOTS]:
            shutil.rmtree(p, ignore_errors=True)


def _parquet_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def _write(table: pa.Table, path: Path) -> None:
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **with_version(table.schema).metadata})
    pq.write_table(table, path, compression="zstd")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ObjectStore:
    """The same datasets on any pyarrow / fsspec filesystem URI (``s3://``, ``gs://``, ...).

    Object stores have no rename or symlink, so each part file is one atomic PUT and a
    commit replaces a unit's parts dataset by dataset: a reader may briefly see one unit
    new in ``sections`` and old in ``documents``. Run one writer at a time per location.
    Local paths use ``Store``, which commits all datasets at once.
    """

    def __init__(self, uri: str):
        self.uri = uri
        self.fs, self.base = _filesystem(uri)

    def _path(self, *parts: str) -> str:
        return "/".join([self.base.rstrip("/"), *parts])

    def _files(self, folder: str) -> list[str]:
        from pyarrow import fs as pafs

        info = self.fs.get_file_info(pafs.FileSelector(self._path(folder), allow_not_found=True))
        return sorted(i.path for i in info if i.type == pafs.FileType.File and i.path.endswith(".parquet"))

    def read(self, name: str, filter=None, columns: list[str] | None = None) -> pa.Table:
        folder = "tables_parts" if name == "tables" else name
        files = self._files(folder)
        if not files:
            empty = DATASETS[name].empty_table()
            return empty.select(columns) if columns else empty
        dataset = ds.dataset(files, schema=DATASETS[name], format="parquet", filesystem=self.fs)
        return dataset.to_table(filter=filter, columns=columns)

    def read_table_file(self, doc_id: str, table_id: str) -> pa.Table:
        return pq.read_table(self._path(PUBLIC_TABLE_DIR, _safe_name(doc_id), f"{_safe_name(table_id)}.parquet"),
                             filesystem=self.fs)

    def units(self) -> set[str]:
        return {Path(f).stem for f in self._files("documents")}

    def append(self, name: str, parts: Mapping[str, pa.Table]) -> None:
        if name not in LOG_DATASETS:
            raise ValueError(f"{name!r} is not a log dataset: {', '.join(LOG_DATASETS)}")
        self.fs.create_dir(self._path(name), recursive=True)
        for key, table in parts.items():
            self._write(table.cast(DATASETS[name]), self._path(name, f"{_safe_name(key)}.parquet"))

    def commit(self, parts, table_files=None, replace_units=None) -> None:
        replace_units = set(replace_units or ())
        for name in DATASETS:
            folder = "tables_parts" if name == "tables" else name
            self.fs.create_dir(self._path(folder), recursive=True)
            new = parts.get(name, {})
            for key, table in new.items():
                self._write(table.cast(DATASETS[name]), self._path(folder, f"{_safe_name(key)}.parquet"))
            for f in self._files(folder):
                if Path(f).stem in replace_units and Path(f).stem not in new:
                    self.fs.delete_file(f)
        docs = {key.split("/")[0] for key in (table_files or {})}
        for f in self._files(PUBLIC_TABLE_DIR):
            doc = Path(f).parent.name
            if doc in docs or any(doc.startswith(u + "-") for u in replace_units):
                self.fs.delete_file(f)
        for key, table in (table_files or {}).items():
            doc_id, table_id = key.split("/")
            self.fs.create_dir(self._path(PUBLIC_TABLE_DIR, _safe_name(doc_id)), recursive=True)
            self._write(table, self._path(PUBLIC_TABLE_DIR, doc_id, f"{_safe_name(table_id)}.parquet"))
        self._write(self.read("tables"), self._path("tables.parquet"))

    def _write(self, table: pa.Table, path: str) -> None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **with_version(table.schema).metadata})
        pq.write_table(table, path, filesystem=self.fs, compression="zstd")


PUBLIC_TABLE_DIR = "tables"


def _filesystem(uri: str):
    from pyarrow import fs as pafs

    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        import fsspec  # schemes pyarrow lacks natively (memory://, and any fsspec plugin)

        filesystem, path = fsspec.core.url_to_fs(uri)
        return pafs.PyFileSystem(pafs.FSSpecHandler(filesystem)), path


def open_store(location: str | Path) -> Store | ObjectStore:
    """``Store`` for a local path (or ``file://``), ``ObjectStore`` for any other URI."""
    text = str(location)
    if "://" not in text:
        return Store(text)
    if text.startswith("file://"):
        return Store(text[len("file://") :])
    return ObjectStore(text)
