"""Model objects -> Arrow tables of the schemas in ``pipeline.schema``.

Per-table Parquet (``tables/<doc_id>/<table_id>.parquet``): columns are named after the
header (an empty header cell becomes ``col_N``, a repeated name gets ``_2``, ``_3``).
A column becomes numeric when every non-empty cell is a plain number: digits with an
optional sign, decimal point and comma thousands separators (``1,234.5``). Integers give
int64, others float64; empty cells are null. Anything else, e.g. ``12.5%`` or ``3.7亿元``,
keeps the column as strings, so no unit or meaning is silently dropped.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence

import pyarrow as pa

from pipeline import PIPELINE_VERSION
from pipeline.model import ErrorRecord, SourceResult, Table, TocCheck
from pipeline.schema import DATASETS
from pipeline.toc import CHECKED_LEVELS

_NUMBER = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")


def column_names(table: Table) -> list[str]:
    names: list[str] = []
    header = table.header or [""] * table.n_cols
    for j in range(table.n_cols):
        base = (header[j] if j < len(header) else "").strip() or f"col_{j + 1}"
        name, k = base, 2
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.append(name)
    return names


def typed_table(table: Table) -> pa.Table:
    names = column_names(table)
    columns = []
    for j in range(len(names)):
        values = [(r[j] if j < len(r) else "").strip() for r in table.rows]
        columns.append(_typed_column(values))
    return pa.table(dict(zip(names, columns, strict=True)))


def _typed_column(values: Sequence[str]) -> pa.Array:
    filled = [v for v in values if v]
    if filled and all(_NUMBER.match(v) for v in filled):
        nums = [v.replace(",", "") if v else None for v in values]
        if all("." not in n for n in nums if n):
            return pa.array([int(n) if n else None for n in nums], pa.int64())
        return pa.array([float(n) if n else None for n in nums], pa.float64())
    return pa.array(list(values), pa.string())


def _table(name: str, rows: Iterable[dict]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=DATASETS[name])


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _toc_row(unit: str, doc_id: str, c: TocCheck) -> dict:
    return {"unit_id": unit, "doc_id": doc_id, **{k: getattr(c, k) for k in (
        "level", "number", "parent_number", "toc_title", "body_title", "status", "similarity", "toc_page", "body_page", "detail")}}


def result_tables(result: SourceResult, now: dt.datetime | None = None) -> dict[str, pa.Table]:
    """All unit datasets for one processed input."""
    now = now or dt.datetime.now(dt.UTC)
    unit = result.unit_id
    docs, sections, tables, cells, toc = [], [], [], [], []
    for d in result.documents:
        toc_rows = [c for c in d.toc_checks if c.status not in ("gap", "duplicate")]
        problems = sum(1 for c in d.toc_checks if c.status != "ok")
        docs.append({
            "unit_id": unit, "doc_id": d.doc_id, "kind": d.kind, "issue": d.issue, "title": d.title,
            "doc_number": d.doc_number, "issuer": d.issuer, "signed_date": _date(d.signed_date),
            "publication": d.publication, "effective_date": _date(d.effective_date), "validity": d.validity,
            "source": d.source, "raw_sha256": d.raw_sha256,
            "page_start": d.page_start, "page_end": d.page_end, "printed_page_start": d.printed_page_start,
            "n_sections": sum(1 for s in d.sections if s.level != "front"),
            "n_chapters": sum(1 for s in d.sections if s.level == "chapter"),
            "n_tables": len(d.tables),
            "toc_entries": sum(1 for e in d.toc if e.level in CHECKED_LEVELS),
            "toc_complete": (not any(c.status == "missing" for c in toc_rows)) if d.toc else None,
            "toc_problems": problems,
            "published_at": d.published_at, "source_name": d.source_name, "author": d.author,
            "categories": d.categories, "tags": d.tags, "url": d.url, "canonical_url": d.canonical_url,
            "original_url": d.original_url,
            "images": [{"src": i.src, "alt": i.alt, "caption": i.caption} for i in d.images],
            "warnings": d.warnings, "pipeline_version": PIPELINE_VERSION, "processed_at": now,
        })
        sections += [{"unit_id": unit, "doc_id": d.doc_id, "seq": s.seq, "level": s.level, "number": s.number,
                      "heading": s.heading, "title": s.title, "parent_seq": s.parent_seq, "path": s.path,
                      "depth": s.depth, "text": s.text, "page_start": s.page_start, "page_end": s.page_end}
                     for s in d.sections]
        for t in d.tables:
            names = column_names(t)
            tables.append({"unit_id": unit, "doc_id": d.doc_id, "table_id": t.table_id, "caption": t.caption,
                           "label": t.label, "kind": t.kind, "section_seq": t.section_seq,
                           "page_start": t.page_start, "page_end": t.page_end,
                           "bbox": list(t.bbox) if t.bbox else None, "n_rows": t.n_rows, "n_cols": t.n_cols,
                           "header": t.header})
            cells += [{"unit_id": unit, "doc_id": d.doc_id, "table_id": t.table_id, "row": i, "col": j,
                       "column_name": names[j] if j < len(names) else f"col_{j + 1}", "value": v}
                      for i, row in enumerate(t.rows) for j, v in enumerate(row)]
        toc += [_toc_row(unit, d.doc_id, c) for c in d.toc_checks]
    toc += [_toc_row(unit, unit, c) for c in result.issue_toc_checks]
    removed = [{"unit_id": unit, "doc_id": r.doc_id, "page": r.page, "text": r.text, "reason": r.reason}
               for r in result.removed]
    return {
        "documents": _table("documents", docs),
        "sections": _table("sections", sections),
        "tables": _table("tables", tables),
        "table_cells": _table("table_cells", cells),
        "removed": _table("removed", removed),
        "toc_checks": _table("toc_checks", toc),
        "errors": error_table(unit, result.errors, now),
    }


def run_table(run_id: str, flow: str, inputs: Sequence[str], counts: dict, started: dt.datetime, duration_s: float,
              skipped: int = 0) -> pa.Table:
    """A ``runs`` row: one ingest run (a Prefect flow run or a CLI command). ``counts``: documents,
    sections, tables, removed, warnings, errors."""
    return _table("runs", [{"run_id": run_id, "flow": flow, "inputs": list(inputs)[:1000], **counts, "skipped": skipped,
                            "started_at": started, "duration_s": round(duration_s, 3),
                            "pipeline_version": PIPELINE_VERSION}])


def input_row(result: SourceResult, now: dt.datetime | None = None) -> pa.Table:
    """The lineage row of one processed input (``inputs`` dataset)."""
    failed = result.kind == "error" or not result.documents
    return _table("inputs", [{
        "source": result.source, "raw_sha256": result.raw_sha256, "kind": result.kind,
        "unit_id": None if result.kind == "error" else result.unit_id, "doc_ids": [d.doc_id for d in result.documents],
        "status": "error" if failed and result.errors else "ok",
        "error_type": result.errors[0].error_type if result.errors else None,
        "pipeline_version": PIPELINE_VERSION, "processed_at": now or dt.datetime.now(dt.UTC),
    }])


def error_table(unit: str, errors: Sequence[ErrorRecord], now: dt.datetime | None = None) -> pa.Table:
    now = now or dt.datetime.now(dt.UTC)
    return _table("errors", ({"unit_id": unit, "source": e.source, "stage": e.stage, "error_type": e.error_type,
                              "message": e.message, "raw_sha256": e.raw_sha256, "occurred_at": now} for e in errors))


def per_table_files(result: SourceResult) -> dict[str, pa.Table]:
    """``<doc_id>/<table_id>`` -> typed table, for ``tables/<doc_id>/<table_id>.parquet``."""
    return {f"{d.doc_id}/{t.table_id}": typed_table(t) for d in result.documents for t in d.tables}
