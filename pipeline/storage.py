"""Parquet output: Hive-partitioned datasets, atomic snapshots, commits that cost what changed.

Layout of an output directory::

    output/
      documents -> .gazette/current/documents      (one stable link per dataset, logs included)
      sections, tables, table_cells, removed, toc_checks, errors, inputs, runs, fetches
      .gazette/current -> trees/a                   (swapped atomically by each commit: a <-> b)
      .gazette/trees/a/                             (the current snapshot; trees/b: the one before)
          _manifest.json                            (the snapshot: every file, with rows and bytes)
          _index/part-<id>-<shard>.json             (key -> partition, in INDEX_SHARDS shards)
          documents/doc_kind=html/year=2023/part-<id>.parquet
          runs/year=2026/part-<id>.parquet
      .gazette/staging/<id>/                        (a transaction's new files until its commit)
      .gazette/lock

Partitions and keys are in ``pipeline.schema`` (``PARTITION_KEYS``, ``KEYS``): a unit's rows
(``unit_id``) and its input's rows (``source``) live in one ``doc_kind=/year=`` partition.

**Writing.** A ``Transaction`` streams rows into new files as they come: it converts them to
Arrow ``FLUSH_ROWS`` at a time and writes one file per partition and dataset, in row groups
of up to ``ROW_GROUP_ROWS`` (at most ``PENDING_BYTES`` waiting), so a run of 20,000 inputs
holds a bounded amount of rows whatever its length. Its ``commit``, under an exclusive
``flock``, starts from the then-current snapshot and:

1. looks up the partition of every key it writes in the key index (only the shards holding
   those keys are read); in those partitions, reads the key column of each file and rewrites
   only the files that hold a replaced key, without that key's rows;
2. adds its new files; compacts a touched partition once it holds more than
   ``COMPACT_AT_FILES`` files under ``TARGET_FILE_BYTES`` (their rows streamed into files of
   up to that size), and a log's tiny files (``MERGE_TINY_BYTES``: a run's row) at once, so a
   partition keeps about one file per ``TARGET_FILE_BYTES`` (at most ``COMPACT_AT_FILES`` more);
3. writes the changed index shards and the manifest, brings the tree ``current`` does not
   point at (it holds the snapshot before) up to the new snapshot by hard links (nothing is
   copied) and swaps ``current`` to it.

So a commit costs its new rows, the files that held replaced keys, and the links and
unlinks of the last two commits' files: not a file per document, and not even a link per
file of the archive. (Why not a folder per partition shared between snapshots through a
symlink: DuckDB's ``**`` glob does not descend into a symlinked folder.)

**Reading.** A reader opening ``output/<dataset>`` sees one snapshot in every dataset, never a
mix; a process killed at any moment (during a compaction too) leaves ``current`` on a
complete snapshot, and the next commit sweeps the debris. The previous snapshot stays (the
other tree) until the next commit, so a reader that opened it just before a commit can finish.
A reader that must not span two snapshots resolves the link once (``open_output``, ``gazette
sql`` and ``Store.read`` do): a glob walking ``output/<dataset>`` while a commit swaps
``current`` could list one folder of each. ``runs`` and ``fetches`` are append-only logs
committed with the run's data: a run's row never shows before its data, and they are
compacted like the rest.

``ObjectStore`` keeps the same datasets and files on any pyarrow/fsspec filesystem URI, with
the manifest as the snapshot (see its docstring for what is atomic there).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from pipeline import faults
from pipeline.schema import DATASETS, KEYS, LOG_DATASETS, PARTITION_KEYS, SCHEMA_VERSION, with_version

# A file is "small" below this size and compaction fills files up to it: the size a reader
# handles well (one file, parallel row groups) and the target of issue 15 (bytes on disk).
TARGET_FILE_BYTES = 128 * 1024 * 1024
# A partition with more small files than this is compacted on the commit that touches it:
# a daily run adds one file per partition it touches, so a partition is rewritten about once
# every eight runs (amortised: an eighth of the partition per run), and a reader opens at most
# this many files more than one per partition.
COMPACT_AT_FILES = 8
# A log's files below this are merged with each other on every commit that adds to the log: a
# run's part (its one runs row, its fetches) joins the year's file at once, for the cost of
# copying a quarter MB at most. (Data files wait for COMPACT_AT_FILES: merging a partition's
# small file on every commit would make each commit rewrite other documents' rows.)
MERGE_TINY_BYTES = 256 * 1024
# Rows a transaction buffers (as dicts, ~1 KB each) before it writes them as a row group;
# bounds a long run's memory (~50 MB) and keeps row groups of a useful size.
FLUSH_ROWS = 50_000
# A row group is written once this many rows or bytes (Arrow, in memory) of one dataset and
# partition gather: a row group of a few hundred rows makes reading many times slower.
ROW_GROUP_ROWS = 200_000
ROW_GROUP_BYTES = 64 * 1024 * 1024
# Arrow rows a transaction holds before it writes its largest row groups early (memory bound).
PENDING_BYTES = 64 * 1024 * 1024
# Rows per row group when compaction or a rewrite copies files (bounded memory per copy).
COPY_ROWS = 100_000
# Shards of the key -> partition index: a commit rewrites only the shards of the keys it
# writes (at 100,000 documents ~3,000 keys per shard: a small JSON file).
INDEX_SHARDS = 64
KEEP_SNAPSHOTS = 2  # the current snapshot and the one before it, for readers that opened it (object stores)
MANIFEST = "_manifest.json"
INDEX_DIR = "_index"
LAYOUT = 2  # the manifest's format


class SchemaMismatch(RuntimeError):
    pass


# --- the manifest --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FileEntry:
    """One Parquet file of a snapshot: ``path`` is ``<dataset>/<partition>/<name>.parquet``."""

    path: str
    rows: int
    bytes: int

    @property
    def partition(self) -> str:
        return str(PurePosixPath(self.path).parent.relative_to(PurePosixPath(self.path).parts[0]))


@dataclasses.dataclass
class Manifest:
    """A snapshot: every file of every dataset, and the index shards."""

    number: int
    files: dict[str, list[FileEntry]]
    shards: dict[int, str]  # shard number -> path of its JSON file
    schema_version: str = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps({
            "layout": LAYOUT, "schema_version": self.schema_version, "snapshot": self.number,
            "files": {name: [[f.path, f.rows, f.bytes] for f in files] for name, files in self.files.items()},
            "index": {str(k): v for k, v in sorted(self.shards.items())},
        }, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        files = {name: [FileEntry(*f) for f in entries] for name, entries in data["files"].items()}
        return cls(data["snapshot"], files, {int(k): v for k, v in data["index"].items()}, data["schema_version"])

    def paths(self) -> set[str]:
        return {f.path for files in self.files.values() for f in files} | set(self.shards.values())


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A manifest and where its relative paths are: the snapshot's folder (local) or the output's
    base (object store). Resolved once, so every path of a reading is of the same snapshot."""

    manifest: Manifest
    root: str

    def path(self, rel: str) -> str:
        return f"{self.root.rstrip('/')}/{rel}"

    def files(self, name: str) -> list[str]:
        return [self.path(f.path) for f in self.manifest.files.get(name, [])]


def _shard(column: str, key: str) -> int:
    return hashlib.sha1(f"{column}\0{key}".encode()).digest()[0] % INDEX_SHARDS


def _new_name(folder: str, suffix: str = ".parquet") -> str:
    return f"{folder}/part-{uuid.uuid4().hex[:16]}{suffix}"


def check_partition(name: str, partition: str) -> str:
    """``partition`` as ``key=value/...`` with the dataset's partition keys, in order, and safe values."""
    parts = partition.split("/")
    keys = [p.partition("=")[0] for p in parts]
    if keys != list(PARTITION_KEYS[name]):
        raise ValueError(f"{name}: partition {partition!r} is not {'/'.join(k + '=...' for k in PARTITION_KEYS[name])}")
    for p in parts:
        value = p.partition("=")[2]
        if not value or value.startswith(".") or "\\" in value or "\x00" in value:
            raise ValueError(f"unsafe partition value in {partition!r}")
    return partition


# --- the two kinds of output ---------------------------------------------------------------------


class _Archive:
    """What a local directory and an object store share: reading, transactions, commits."""

    fs: pafs.FileSystem

    # hooks of the two kinds
    def snapshot(self) -> Snapshot | None:
        """The current snapshot (None before the first commit)."""
        raise NotImplementedError

    def _lock(self):
        raise NotImplementedError

    def _new_stage(self) -> _StageArea:
        raise NotImplementedError

    def _publish(self, old: Snapshot | None, new: Manifest, stage: _StageArea, new_paths: set[str]) -> None:
        raise NotImplementedError

    # --- reading ----------------------------------------------------------------------------

    def files(self, name: str) -> list[str]:
        """Paths (on ``self.fs``) of a dataset's files in the current snapshot."""
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}")
        snap = self.snapshot()
        return snap.files(name) if snap else []

    def read(self, name: str, filter=None, columns: list[str] | None = None) -> pa.Table:
        """A whole dataset (an empty table of its schema when nothing is there yet); ``filter``: a
        ``pyarrow.dataset`` expression."""
        files = self.files(name)
        if filter is not None:
            import pyarrow.dataset as ds  # imports pandas when it is installed: only when a filter needs it

            return ds.dataset(files, schema=DATASETS[name], format="parquet", filesystem=self.fs).to_table(
                filter=filter, columns=columns)
        tables = [pq.ParquetFile(f, filesystem=self.fs).read(columns=columns) for f in files]
        empty = pa.Table.from_batches([], schema=DATASETS[name])  # (Schema.empty_table imports pandas)
        return pa.concat_tables([empty.select(columns) if columns else empty, *tables])

    def read_table_file(self, doc_id: str, table_id: str) -> pa.Table:
        """One table typed (columns named after its header, numeric where every value is a number),
        from its ``table_cells`` rows."""
        import pyarrow.dataset as ds

        from pipeline.rows import typed_from_cells

        match = (ds.field("doc_id") == doc_id) & (ds.field("table_id") == table_id)
        index = self.read("tables", filter=match, columns=["n_rows", "n_cols"]).to_pylist()
        if not index:
            raise KeyError(f"no table {table_id} in document {doc_id}")
        cells = self.read("table_cells", filter=match)
        return typed_from_cells(cells, index[0]["n_rows"] or 0, index[0]["n_cols"] or 0)

    # --- writing ----------------------------------------------------------------------------

    def transaction(self, on_reject: Callable[[str, str, str], None] | None = None) -> Transaction:
        """Rows to write as one snapshot: ``with store.transaction() as tx: tx.put(...)``."""
        return Transaction(self, on_reject)

    def compact(self) -> Manifest | None:
        """Merge every partition's small files now (a commit does it once they accumulate)."""
        with self.transaction() as tx:
            tx.compact_all = True
        return tx.manifest

    def _check_version(self, snap: Snapshot | None) -> None:
        if snap is not None and snap.manifest.schema_version != SCHEMA_VERSION:
            raise SchemaMismatch(
                f"{self} holds schema version {snap.manifest.schema_version}, this pipeline writes {SCHEMA_VERSION}: "
                "write to a new --out directory (gazette reprocess --all reads the raw store)"
            )

    def _commit(self, tx: Transaction, staged: dict[tuple[str, str], list[FileEntry]]) -> Manifest | None:
        with self._lock():
            old = self.snapshot()
            self._check_version(old)
            plan = _Plan(self.fs, old, tx.stage)
            plan.drop_replaced(tx.replaced())
            for (name, partition), entries in staged.items():
                plan.add(name, partition, entries)
            log_partition = f"year={dt.datetime.now(dt.UTC).year}"  # the year the run is recorded
            for name, tables in tx.logs.items():
                plan.add(name, log_partition, [tx.stage.write_file(name, log_partition, tables)])
            plan.compact(every_partition=tx.compact_all)
            plan.update_index(tx.puts)
            if old is not None and not plan.changed:
                return old.manifest
            new = plan.manifest()
            self._publish(old, new, tx.stage, plan.new_paths)
            return new


class Store(_Archive):
    """An output directory on the local filesystem: two trees of hard links behind one symlink.

    ``.gazette/current`` points at ``trees/a`` or ``trees/b``; a commit brings the other tree to
    the new snapshot and swaps the link. That tree holds the snapshot before the current one,
    so bringing it up to date means applying the last two commits' changes (links made and
    removed, a folder for a new partition), not rebuilding every folder: a commit's cost does
    not grow with the partitions it leaves alone. A reader of the current tree is never
    disturbed; one still reading the tree before it has until the next commit (the old layout's
    pruning of the snapshot before the previous one gave the same). A tree being brought up to
    date has no ``_manifest.json``: a commit killed meanwhile leaves it so, and the next commit
    rebuilds it from a walk of its folders.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.meta = self.root / ".gazette"
        self.trees = self.meta / "trees"
        self.fs = pafs.LocalFileSystem()

    def __repr__(self) -> str:
        return str(self.root)

    def current(self) -> Path | None:
        link = self.meta / "current"
        return link.resolve() if link.exists() else None

    def snapshot(self) -> Snapshot | None:
        snap = self.current()
        if snap is None:
            return None
        try:
            return Snapshot(Manifest.from_json((snap / MANIFEST).read_text(encoding="utf-8")), str(snap))
        except FileNotFoundError:  # an output of the layout before partitions: one file per input
            meta = snap / "_meta.json"
            found = json.loads(meta.read_text()).get("schema_version") if meta.exists() else "unknown"
            raise SchemaMismatch(
                f"{self.root} holds schema version {found} (a file per input), this pipeline writes {SCHEMA_VERSION}: "
                "write to a new --out directory (gazette reprocess --all reads the raw store)") from None

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.meta.mkdir(parents=True, exist_ok=True)
        with open(self.meta / "lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _new_stage(self) -> _StageArea:
        return _LocalStage(self.meta / "staging")

    def _publish(self, old: Snapshot | None, new: Manifest, stage: _StageArea, new_paths: set[str]) -> None:
        self._sweep()
        current = self.current()
        tree = self.trees / ("b" if current is not None and current.name == "a" else "a")
        held = self._held(tree)
        (tree / MANIFEST).unlink(missing_ok=True)  # from here until its new manifest, the tree is half-made
        wanted = new.paths()
        folders = {PurePosixPath(rel).parent for rel in wanted}
        for rel in held - wanted:
            (tree / rel).unlink(missing_ok=True)
            if PurePosixPath(rel).parent not in folders:  # a partition folder left empty goes too
                with contextlib.suppress(OSError):
                    (tree / rel).parent.rmdir()
        made: set[Path] = set()
        for name in DATASETS:  # every dataset folder exists, so no public link dangles
            if not (tree / name).is_dir():
                (tree / name).mkdir(parents=True)
        for rel in sorted(wanted - held):
            target = tree / rel
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            os.link(stage.path(rel) if rel in new_paths else old.path(rel), target)  # no bytes copied
        manifest_tmp = tree / f".{MANIFEST}.tmp"
        manifest_tmp.write_text(new.to_json(), encoding="utf-8")
        os.replace(manifest_tmp, tree / MANIFEST)
        _fsync_dir(tree)
        link_tmp = self.meta / f".current-{uuid.uuid4().hex}"
        os.symlink(Path("trees") / tree.name, link_tmp)
        os.replace(link_tmp, self.meta / "current")
        _fsync_dir(self.meta)
        self._ensure_links()

    def _held(self, tree: Path) -> set[str]:
        """The files a tree holds: its manifest's, or (half-made by a killed commit) a walk's."""
        try:
            return Manifest.from_json((tree / MANIFEST).read_text(encoding="utf-8")).paths()
        except FileNotFoundError:
            pass
        held = set()
        for folder, _, names in os.walk(tree):
            for name in names:
                rel = (Path(folder) / name).relative_to(tree).as_posix()
                if "/" in rel:  # data and index files; not a manifest left half-written
                    held.add(rel)
        return held

    def _ensure_links(self) -> None:
        for name in DATASETS:
            link, target = self.root / name, Path(".gazette", "current", name)
            if link.is_symlink() and Path(os.readlink(link)) == target:
                continue
            if link.exists() and not link.is_symlink():
                raise RuntimeError(f"{link} exists and is not a gazette dataset link")
            tmp = self.root / f".{name}-{uuid.uuid4().hex}"
            os.symlink(target, tmp)
            os.replace(tmp, link)

    def _sweep(self) -> None:
        """Remove what killed commits and transactions left behind."""
        for p in self.meta.glob(".current-*"):
            p.unlink(missing_ok=True)
        _LocalStage.sweep(self.meta / "staging")


class ObjectStore(_Archive):
    """The same datasets on any pyarrow / fsspec filesystem URI (``s3://``, ``gs://``, ...).

    Object stores have no rename or symlink. Data files are written once, in place
    (``<uri>/<dataset>/<partition>/part-<id>.parquet``, each one PUT), and a snapshot is a
    manifest object (``_gazette/snapshots/<n>.json``) that ``_gazette/CURRENT`` names: one
    small PUT, which an object store applies atomically. So a commit is atomic for a reader
    that goes through the manifest (``Store.read``, ``pipeline.api.open_output``, ``gazette
    sql``); a glob over the folders also sees a commit's files before its manifest is
    published, and the files a commit replaced until the commit after next deletes them.
    There is no lock: run one writer at a time per location.
    """

    def __init__(self, uri: str):
        self.uri = uri
        self.fs, self.base = _filesystem(uri)

    def __repr__(self) -> str:
        return self.uri

    def _path(self, rel: str) -> str:
        return f"{self.base.rstrip('/')}/{rel}"

    def _read_text(self, rel: str) -> str | None:
        try:
            with self.fs.open_input_stream(self._path(rel)) as fh:
                return fh.read().decode("utf-8")
        except FileNotFoundError:
            return None

    def _write_text(self, rel: str, text: str) -> None:
        with _open_output(self.fs, self._path(rel)) as fh:
            fh.write(text.encode("utf-8"))

    def snapshot(self) -> Snapshot | None:
        number = self._read_text("_gazette/CURRENT")
        if number is None:
            if self._files_of_the_old_layout():
                raise SchemaMismatch(f"{self.uri} holds Parquet files but no _gazette/CURRENT: an older layout; "
                                     "write to a new --out location (gazette reprocess --all reads the raw store)")
            return None
        return Snapshot(Manifest.from_json(self._read_text(f"_gazette/snapshots/{number.strip()}.json")), self.base)

    def _lock(self):
        return contextlib.nullcontext()  # one writer at a time (see the class docstring)

    def _new_stage(self) -> _StageArea:
        return _ObjectStage(self.fs, self.base)

    def _publish(self, old: Snapshot | None, new: Manifest, stage: _StageArea, new_paths: set[str]) -> None:
        name = f"{new.number:06d}"
        self._write_text(f"_gazette/snapshots/{name}.json", new.to_json())
        self._write_text("_gazette/CURRENT", name)
        self._collect(new)

    def _files_of_the_old_layout(self) -> list[str]:
        """Parquet files right inside a dataset folder: the layout before partitions (a file per input)."""
        found = []
        for folder in [*DATASETS, "tables_parts"]:
            info = self.fs.get_file_info(pafs.FileSelector(self._path(folder), allow_not_found=True))
            found += [i.path for i in info if i.type == pafs.FileType.File and i.path.endswith(".parquet")]
        return found

    def _data_files(self) -> list[str]:
        found = []
        for folder in [*DATASETS, INDEX_DIR]:
            info = self.fs.get_file_info(pafs.FileSelector(self._path(folder), recursive=True, allow_not_found=True))
            found += [i.path for i in info if i.type == pafs.FileType.File]
        return found

    def _collect(self, new: Manifest) -> None:
        """Delete files no kept snapshot names (replaced ones, a killed writer's) and older manifests."""
        keep, kept = new.paths(), [new.number]
        for number in range(new.number - 1, max(0, new.number - KEEP_SNAPSHOTS), -1):
            text = self._read_text(f"_gazette/snapshots/{number:06d}.json")
            if text:
                keep |= Manifest.from_json(text).paths()
                kept.append(number)
        base = self.base.rstrip("/") + "/"
        for path in self._data_files():
            if path.removeprefix(base) not in keep:
                self.fs.delete_file(path)
        info = self.fs.get_file_info(pafs.FileSelector(self._path("_gazette/snapshots"), allow_not_found=True))
        for i in info:
            stem = PurePosixPath(i.path).stem
            if stem.isdigit() and int(stem) not in kept:
                self.fs.delete_file(i.path)


def _filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        import fsspec  # schemes pyarrow lacks natively (memory://, local://, any fsspec plugin)

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


def _open_output(filesystem: pafs.FileSystem, path: str) -> pa.NativeFile:
    """A new file; its folder is made first (fsspec's local filesystem does not make it)."""
    filesystem.create_dir(str(PurePosixPath(path).parent), recursive=True)
    return filesystem.open_output_stream(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- where a transaction writes ------------------------------------------------------------------


class _StageArea:
    """Where a transaction's new files go before its commit publishes them."""

    fs: pafs.FileSystem

    def path(self, rel: str) -> str:
        raise NotImplementedError

    def discard(self, rels: set[str]) -> None:
        raise NotImplementedError

    def open(self, rel: str) -> pa.NativeFile:
        return self.fs.open_output_stream(self.path(rel))

    def write_file(self, name: str, partition: str, tables: Sequence[pa.Table]) -> FileEntry:
        rel = _new_name(f"{name}/{partition}")
        table = pa.concat_tables([t.cast(DATASETS[name]) for t in tables])
        with self.open(rel) as sink:
            pq.write_table(table, sink, compression="zstd")
            size = sink.tell()
        return FileEntry(rel, table.num_rows, size)


class _LocalStage(_StageArea):
    """``.gazette/staging/<id>/``, held by an ``flock`` on ``<id>.lock`` while its transaction lives."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        self.root = folder / name
        self.root.mkdir()
        self._lock = open(folder / f"{name}.lock", "w")  # noqa: SIM115 (held for the transaction's life)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.fs = pafs.LocalFileSystem()

    def path(self, rel: str) -> str:
        return str(self.root / rel.replace("/", "#"))  # one flat folder: no folders to make and remove

    def discard(self, rels: set[str]) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        Path(self._lock.name).unlink(missing_ok=True)
        self._lock.close()

    @staticmethod
    def sweep(folder: Path) -> None:
        """Staging folders whose transaction's process is gone (its ``flock`` is free)."""
        for lock in folder.glob("*.lock"):
            with open(lock, "a") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live transaction
                shutil.rmtree(folder / lock.stem, ignore_errors=True)
                lock.unlink(missing_ok=True)


class _ObjectStage(_StageArea):
    """New files go straight to their final place; an aborted transaction deletes them."""

    def __init__(self, filesystem: pafs.FileSystem, base: str):
        self.fs, self.base = filesystem, base

    def path(self, rel: str) -> str:
        return f"{self.base.rstrip('/')}/{rel}"

    def open(self, rel: str) -> pa.NativeFile:
        return _open_output(self.fs, self.path(rel))

    def discard(self, rels: set[str]) -> None:
        for rel in rels:
            with contextlib.suppress(FileNotFoundError, OSError):
                self.fs.delete_file(self.path(rel))


# --- a transaction -------------------------------------------------------------------------------


@dataclasses.dataclass
class _Segment:
    column: str
    key: str
    start: int
    stop: int
    live: bool = True


class _Buffer:
    """Rows of one dataset and partition waiting to be written, with the key each came from."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.segments: list[_Segment] = []

    def add(self, column: str, key: str, rows: Sequence[dict]) -> _Segment:
        segment = _Segment(column, key, len(self.rows), len(self.rows) + len(rows))
        self.rows.extend(rows)
        self.segments.append(segment)
        return segment

    def live_rows(self) -> list[dict]:
        if all(s.live for s in self.segments):
            return self.rows
        return [row for s in self.segments if s.live for row in self.rows[s.start:s.stop]]


@dataclasses.dataclass
class _StagedFile:
    rel: str
    first: int  # number of its first row among the rows staged for its dataset and partition
    sink: pa.NativeFile
    writer: pq.ParquetWriter | None
    rows: int = 0
    bytes: int = 0


class _Staged:
    """The files a transaction writes for one dataset and partition, rows numbered across them.

    Rows gather (as Arrow, compact) until a row group's worth (``ROW_GROUP_ROWS``,
    ``ROW_GROUP_BYTES``) or the commit: a run of many small documents still gives row groups of
    a useful size, which is what makes a partitioned dataset as quick to read as one file.
    """

    def __init__(self, stage: _StageArea, name: str, partition: str) -> None:
        self.stage, self.name, self.partition = stage, name, partition
        self.files: list[_StagedFile] = []
        self.total = 0  # rows staged, written or pending
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.pending_bytes = 0
        self.dead: list[tuple[int, int]] = []  # row ranges a later write of their key replaced

    def append(self, table: pa.Table) -> int:
        """Stage rows; returns the number of the first."""
        start, self.total = self.total, self.total + table.num_rows
        self.pending.append(table)
        self.pending_rows += table.num_rows
        self.pending_bytes += table.nbytes
        if self.pending_rows >= ROW_GROUP_ROWS or self.pending_bytes >= ROW_GROUP_BYTES:
            self.write_pending()
        return start

    def write_pending(self) -> None:
        """The pending rows as one row group (in a new file once the last reached its size)."""
        if not self.pending:
            return
        if not self.files or self.files[-1].sink.tell() >= TARGET_FILE_BYTES:
            self.close_last()
            rel = _new_name(f"{self.name}/{self.partition}")
            sink = self.stage.open(rel)
            writer = pq.ParquetWriter(sink, with_version(DATASETS[self.name]), compression="zstd")
            self.files.append(_StagedFile(rel, self.total - self.pending_rows, sink, writer))
        self.files[-1].writer.write_table(pa.concat_tables(self.pending), row_group_size=self.pending_rows)
        self.files[-1].rows += self.pending_rows
        self.pending, self.pending_rows, self.pending_bytes = [], 0, 0

    def close_last(self) -> None:
        last = self.files[-1] if self.files else None
        if last is not None and last.writer is not None:
            last.writer.close()
            last.bytes = last.sink.tell()
            last.sink.close()
            last.writer = None

    def close(self) -> list[FileEntry]:
        self.write_pending()
        self.close_last()
        entries = []
        for f in self.files:
            end = f.first + f.rows
            dead = [(max(a, f.first) - f.first, min(b, end) - f.first) for a, b in self.dead if a < end and b > f.first]
            if not dead:
                entries.append(FileEntry(f.rel, f.rows, f.bytes))
                continue
            keep = [True] * f.rows
            for a, b in dead:
                keep[a:b] = [False] * (b - a)
            if any(keep):
                entries.append(_copy_rows(self.stage, [self.stage.path(f.rel)], self.name, self.partition,
                                          lambda batch, offset, k=keep: pa.array(k[offset:offset + batch.num_rows])))
        return entries


class Transaction:
    """New rows for one snapshot, streamed to files as they come; ``commit`` publishes them.

    ``put(column, key, partition, rows)``: every row of ``key`` (a unit, an input location) in
    the datasets keyed by ``column`` is now ``rows`` ({dataset: [row dicts]}); its earlier rows
    go, wherever they were (an empty list in every dataset drops them). ``log(name, table)``
    appends to a log. Rows are converted to Arrow many at a time; a key whose rows do not
    fit the schema is left as it was (its old rows stay), listed in ``rejected`` and passed to
    ``on_reject(column, key, message)``, which may ``put`` other rows for the input.
    """

    def __init__(self, store: _Archive, on_reject: Callable[[str, str, str], None] | None = None) -> None:
        self.store = store
        self.stage = store._new_stage()
        self.on_reject = on_reject
        self.puts: dict[tuple[str, str], str] = {}  # (column, key) -> its partition now
        self.logs: dict[str, list[pa.Table]] = {}
        self.rejected: list[tuple[str, str, str]] = []
        self.compact_all = False
        self.flushes = 0  # flushes so far: rows put before the last one are written (or rejected)
        self.manifest: Manifest | None = None
        self._buffers: dict[tuple[str, str], _Buffer] = {}
        self._buffered = 0
        self._in_buffer: dict[tuple[str, str], list[_Segment]] = {}
        self._written: dict[tuple[str, str], list[tuple[_Staged, int, int]]] = {}
        self._staged: dict[tuple[str, str], _Staged] = {}
        self._closed = False

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def put(self, column: str, key: str, partition: str, rows: Mapping[str, Sequence[dict]]) -> None:
        datasets = [name for name, col in KEYS.items() if col == column]
        if not datasets:
            raise ValueError(f"no dataset is keyed by {column!r}")
        if not key:
            raise ValueError(f"an empty {column} key")
        for name in rows:
            if KEYS.get(name) != column:
                raise ValueError(f"{name!r} is not keyed by {column!r}")
        self._forget(column, key)
        self.puts[(column, key)] = check_partition(datasets[0], partition)
        for name, some in rows.items():
            if some:
                segment = self._buffers.setdefault((name, partition), _Buffer()).add(column, key, some)
                self._in_buffer.setdefault((column, key), []).append(segment)
                self._buffered += len(some)
        if self._buffered >= FLUSH_ROWS:
            self.flush()

    def log(self, name: str, table: pa.Table) -> None:
        if name not in LOG_DATASETS:
            raise ValueError(f"{name!r} is not a log dataset: {', '.join(LOG_DATASETS)}")
        if table.num_rows:
            self.logs.setdefault(name, []).append(table)

    def replaced(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for column, key in self.puts:
            out.setdefault(column, set()).add(key)
        return out

    def _forget(self, column: str, key: str) -> None:
        """An earlier write of ``key`` in this transaction is replaced too."""
        for segment in self._in_buffer.pop((column, key), []):
            segment.live = False
        for staged, start, stop in self._written.pop((column, key), []):
            staged.dead.append((start, stop))

    def flush(self) -> None:
        """Write the buffered rows (one row group per dataset and partition)."""
        tables, bad = {}, {}
        for (name, partition), buffer in self._buffers.items():
            try:
                tables[(name, partition)] = pa.Table.from_pylist(buffer.live_rows(), schema=DATASETS[name])
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                bad |= _bad_keys(name, buffer)
        for column, key in bad:
            self._forget(column, key)
            del self.puts[(column, key)]  # its old rows stay
        if bad:
            tables = {where: pa.Table.from_pylist(self._buffers[where].live_rows(), schema=DATASETS[where[0]])
                      for where in self._buffers}
        for where, table in tables.items():
            if not table.num_rows:
                continue
            staged = self._staged.get(where) or self._staged.setdefault(where, _Staged(self.stage, *where))
            first = staged.append(table)
            offset = 0
            for segment in self._buffers[where].segments:
                if segment.live:
                    n = segment.stop - segment.start
                    self._written.setdefault((segment.column, segment.key), []).append((staged, first + offset, first + offset + n))
                    offset += n
        self._buffers, self._in_buffer, self._buffered = {}, {}, 0
        self.flushes += 1
        self._bound_pending()
        for (column, key), message in bad.items():
            self.rejected.append((column, key, message))
            if self.on_reject:
                self.on_reject(column, key, message)

    def _bound_pending(self) -> None:
        """Write the largest pending row groups while the pending rows exceed ``PENDING_BYTES``."""
        staged = sorted(self._staged.values(), key=lambda s: s.pending_bytes, reverse=True)
        pending = sum(s.pending_bytes for s in staged)
        for s in staged:
            if pending <= PENDING_BYTES:
                return
            pending -= s.pending_bytes
            s.write_pending()

    def commit(self) -> Manifest | None:
        """Publish everything as one snapshot (none when nothing changed)."""
        if self._closed:
            raise RuntimeError("the transaction is over")
        try:
            while self._buffers:  # on_reject may add rows while a flush runs
                self.flush()
            staged = {where: s.close() for where, s in self._staged.items()}
            self.manifest = self.store._commit(self, staged)
        finally:
            self._closed = True
            self.stage.discard(set())  # published files are linked (local) or in place (object store)
        return self.manifest

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        for staged in self._staged.values():
            with contextlib.suppress(Exception):
                staged.close_last()
        self.stage.discard({f.rel for s in self._staged.values() for f in s.files})


def _bad_keys(name: str, buffer: _Buffer) -> dict[tuple[str, str], str]:
    """The keys whose rows do not convert, found one key at a time (only after a batch failed)."""
    bad = {}
    for segment in buffer.segments:
        if not segment.live:
            continue
        try:
            pa.Table.from_pylist(buffer.rows[segment.start:segment.stop], schema=DATASETS[name])
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            bad[(segment.column, segment.key)] = f"{name}: {type(exc).__name__}: {exc}"[:300]
    return bad


# --- a commit's plan -----------------------------------------------------------------------------


class _Plan:
    """The next snapshot, built from the current one: what a commit changes, and nothing else."""

    def __init__(self, filesystem: pafs.FileSystem, old: Snapshot | None, stage: _StageArea) -> None:
        self.fs, self.old, self.stage = filesystem, old, stage
        self.files: dict[str, dict[str, list[FileEntry]]] = {name: {} for name in DATASETS}
        for name, entries in (old.manifest.files if old else {}).items():
            for f in entries:
                self.files.setdefault(name, {}).setdefault(f.partition, []).append(f)
        self.shards = dict(old.manifest.shards) if old else {}
        self.loaded_shards: dict[int, dict[str, dict[str, str]]] = {}
        self.touched: set[tuple[str, str]] = set()
        self.new_paths: set[str] = set()
        self.changed = False

    def shard(self, number: int) -> dict[str, dict[str, str]]:
        if number not in self.loaded_shards:
            rel = self.shards.get(number)
            if rel is None:
                self.loaded_shards[number] = {}
            else:
                with self.fs.open_input_stream(self.old.path(rel)) as fh:
                    self.loaded_shards[number] = json.loads(fh.read().decode("utf-8"))
        return self.loaded_shards[number]

    def drop_replaced(self, replaced: dict[str, set[str]]) -> None:
        """Rewrite, without their rows, the files that hold a key this commit writes."""
        for column, keys in replaced.items():
            where: dict[str, set[str]] = {}  # old partition -> its replaced keys
            for key in keys:
                partition = self.shard(_shard(column, key)).get(column, {}).get(key)
                if partition is not None:
                    where.setdefault(partition, set()).add(key)
            for name in (n for n, col in KEYS.items() if col == column):
                for partition, in_partition in where.items():
                    self._drop_keys(name, partition, column, in_partition)

    def _drop_keys(self, name: str, partition: str, column: str, keys: set[str]) -> None:
        import pyarrow.compute as pc

        values = pa.array(sorted(keys), pa.string())
        kept = []
        for f in self.files[name].get(partition, []):
            path = self._source(f)
            column_values = pq.ParquetFile(path, filesystem=self.fs).read(columns=[column]).column(column)
            if not pc.any(pc.is_in(column_values, value_set=values)).as_py():
                kept.append(f)
                continue
            self.changed = True
            self.touched.add((name, partition))
            if f.rows > pc.sum(pc.is_in(column_values, value_set=values)).as_py():
                entry = _copy_rows(self.stage, [path], name, partition,
                                   lambda batch, _offset: pc.invert(pc.is_in(batch.column(column), value_set=values)),
                                   source_fs=self.fs)
                kept.append(entry)
                self.new_paths.add(entry.path)
        self.files[name][partition] = kept

    def add(self, name: str, partition: str, entries: Sequence[FileEntry]) -> None:
        entries = [e for e in entries if e.rows]
        if entries:
            self.files[name].setdefault(partition, []).extend(entries)
            self.new_paths.update(e.path for e in entries)
            self.touched.add((name, partition))
            self.changed = True

    def compact(self, every_partition: bool = False) -> None:
        """Merge a touched partition's small files once there are more than ``COMPACT_AT_FILES`` (a
        log's tiny ones, ``MERGE_TINY_BYTES``, as soon as there are two); every partition's small
        files with ``every_partition``."""
        where = [(n, p) for n, parts in self.files.items() for p in parts] if every_partition else sorted(self.touched)
        for name, partition in where:
            entries = self.files[name].get(partition, [])
            small = [f for f in entries if f.bytes < TARGET_FILE_BYTES]
            if not every_partition and len(small) <= COMPACT_AT_FILES:
                small = [f for f in small if f.bytes < MERGE_TINY_BYTES] if name in LOG_DATASETS else []
            if len(small) <= 1:
                continue
            merged = []
            for group in _groups(small):
                sources = [self._source(f) for f in group]
                merged.append(_copy_rows(self.stage, sources, name, partition, None, source_fs=self.fs))
                faults.check("compact", f"{name}/{partition}")  # tests kill a commit here, mid-compaction
            self.files[name][partition] = [f for f in entries if f not in small] + merged
            self.new_paths.update(e.path for e in merged)
            self.changed = True

    def update_index(self, puts: Mapping[tuple[str, str], str]) -> None:
        by_shard: dict[int, list[tuple[str, str, str]]] = {}
        for (column, key), partition in puts.items():
            by_shard.setdefault(_shard(column, key), []).append((column, key, partition))
        for number, changes in by_shard.items():
            shard = self.shard(number)
            if all(shard.get(column, {}).get(key) == partition for column, key, partition in changes):
                continue  # every key stays where it was
            for column, key, partition in changes:
                shard.setdefault(column, {})[key] = partition
            rel = _new_name(INDEX_DIR, f"-{number:02d}.json")
            with self.stage.open(rel) as fh:
                fh.write(json.dumps(shard, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
            self.shards[number] = rel
            self.new_paths.add(rel)
            self.changed = True

    def _source(self, f: FileEntry) -> str:
        """Where a file of the next snapshot is now: written by this commit, or in the current snapshot."""
        return self.stage.path(f.path) if f.path in self.new_paths else self.old.path(f.path)

    def manifest(self) -> Manifest:
        files = {name: sorted((f for entries in parts.values() for f in entries), key=lambda f: f.path)
                 for name, parts in self.files.items()}
        return Manifest((self.old.manifest.number if self.old else 0) + 1, files, dict(self.shards))


def _groups(files: Sequence[FileEntry]) -> list[list[FileEntry]]:
    """Small files in groups of up to ``TARGET_FILE_BYTES``, smallest first."""
    groups: list[list[FileEntry]] = [[]]
    size = 0
    for f in sorted(files, key=lambda f: f.bytes):
        if groups[-1] and size + f.bytes > TARGET_FILE_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(f)
        size += f.bytes
    return groups


def _copy_rows(stage: _StageArea, sources: Sequence[str], name: str, partition: str,
               keep: Callable[[pa.RecordBatch, int], pa.Array] | None,
               source_fs: pafs.FileSystem | None = None) -> FileEntry:
    """Stream the rows of ``sources`` (those ``keep`` marks) into one new file, ``COPY_ROWS`` at a time."""
    rel = _new_name(f"{name}/{partition}")
    schema = with_version(DATASETS[name])
    rows, pending = 0, []
    with stage.open(rel) as sink, pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for source in sources:
            offset = 0
            with (source_fs or stage.fs).open_input_file(source) as fh:
                for batch in pq.ParquetFile(fh).iter_batches(batch_size=COPY_ROWS):
                    chosen = batch.filter(keep(batch, offset)) if keep else batch
                    offset += batch.num_rows
                    pending.append(chosen)
                    if sum(b.num_rows for b in pending) >= COPY_ROWS:
                        writer.write_table(pa.Table.from_batches(pending).cast(schema))
                        rows += sum(b.num_rows for b in pending)
                        pending = []
        if pending:
            writer.write_table(pa.Table.from_batches(pending).cast(schema))
            rows += sum(b.num_rows for b in pending)
        writer.close()
        size = sink.tell()
    return FileEntry(rel, rows, size)
