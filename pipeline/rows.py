"""Model objects -> rows (dicts) and Arrow tables of the schemas in ``pipeline.schema``.

``result_rows`` gives one input's rows as dicts: a writer converts many inputs' rows to
Arrow at once (twenty times cheaper per input than a table per input), ``result_tables``
converts one input's. ``partition_of`` says where an input's rows live (``doc_kind=``,
``year=``: see ``pipeline.schema``).

Typed tables (``typed_table``, ``typed_from_cells``): columns are named after the header (an
empty header cell becomes ``col_N``, a repeated name gets ``_2``, ``_3``). A column becomes
numeric when every non-empty cell is a plain number: digits with an optional sign, decimal
point and comma thousands separators (``1,234.5``). Integers give int64, others float64;
empty cells are null. Anything else, e.g. ``12.5%`` or ``3.7亿元``, keeps the column as
strings, so no unit or meaning is silently dropped.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Sequence

import pyarrow as pa

from pipeline import PIPELINE_VERSION
from pipeline.model import ErrorRecord, SourceResult, Table, TocCheck
from pipeline.schema import DATASETS, UNDATED_YEAR

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
    return _typed(column_names(table), table.rows)


def typed_from_cells(cells: pa.Table, n_rows: int = 0, n_cols: int = 0) -> pa.Table:
    """The typed table of one table's ``table_cells`` rows (row, col, column_name, value)."""
    rows_cols = cells.select(["row", "col", "column_name", "value"]).to_pylist()
    n_rows = max([n_rows, *(c["row"] + 1 for c in rows_cols)])
    n_cols = max([n_cols, *(c["col"] + 1 for c in rows_cols)])
    names = [f"col_{j + 1}" for j in range(n_cols)]
    grid = [[""] * n_cols for _ in range(n_rows)]
    for c in rows_cols:
        grid[c["row"]][c["col"]] = c["value"] or ""
        names[c["col"]] = c["column_name"] or names[c["col"]]
    return _typed(names, grid)


def _typed(names: Sequence[str], rows: Sequence[Sequence[str]]) -> pa.Table:
    columns = []
    for j in range(len(names)):
        values = [(r[j] if j < len(r) else "").strip() for r in rows]
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
    """All unit datasets for one processed input, as Arrow tables."""
    return {name: _table(name, rows) for name, rows in result_rows(result, now).items()}


def result_rows(result: SourceResult, now: dt.datetime | None = None) -> dict[str, list[dict]]:
    """All unit datasets for one processed input, as rows."""
    from pipeline.toc import CHECKED_LEVELS  # the parsing stages load only where results are made

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
    return {"documents": docs, "sections": sections, "tables": tables, "table_cells": cells, "removed": removed,
            "toc_checks": toc, "errors": error_rows(unit, result.errors, now)}


def run_table(run_id: str, flow: str, inputs: Sequence[str], counts: dict, started: dt.datetime, duration_s: float,
              skipped: int = 0) -> pa.Table:
    """A ``runs`` row: one ingest run (a Prefect flow run or a CLI command). ``counts``: documents,
    sections, tables, removed, warnings, errors."""
    return _one_row("runs", {"run_id": run_id, "flow": flow, "inputs": list(inputs)[:1000], **counts, "skipped": skipped,
                             "started_at": started, "duration_s": round(duration_s, 3),
                             "pipeline_version": PIPELINE_VERSION})


def _one_row(name: str, row: dict) -> pa.Table:
    """One row, read by Arrow's JSON reader. Converting Python objects makes pyarrow import
    pandas when it is installed (0.2-0.3 s), and a run that finds nothing to parse writes
    nothing else: its run row would cost more than the rest of the run. Values the reader
    refuses go through the usual conversion, which says what is wrong with them."""
    import pyarrow.json as pj

    line = json.dumps(row, default=lambda v: v.isoformat(), ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        options = pj.ParseOptions(explicit_schema=DATASETS[name])
        return pj.read_json(io.BytesIO(line), parse_options=options).cast(DATASETS[name])
    except (pa.ArrowException, ValueError):
        return _table(name, [row])


def input_row(result: SourceResult, now: dt.datetime | None = None) -> pa.Table:
    """The lineage row of one processed input (``inputs`` dataset)."""
    return _table("inputs", input_rows(result, now))


def input_rows(result: SourceResult, now: dt.datetime | None = None) -> list[dict]:
    failed = result.kind == "error" or not result.documents
    return [{
        "source": result.source, "raw_sha256": result.raw_sha256, "kind": result.kind,
        "unit_id": None if result.kind == "error" else result.unit_id, "doc_ids": [d.doc_id for d in result.documents],
        "status": "error" if failed and result.errors else "ok",
        "error_type": result.errors[0].error_type if result.errors else None,
        "pipeline_version": PIPELINE_VERSION, "processed_at": now or dt.datetime.now(dt.UTC),
    }]


def error_table(unit: str, errors: Sequence[ErrorRecord], now: dt.datetime | None = None) -> pa.Table:
    return _table("errors", error_rows(unit, errors, now))


def error_rows(unit: str, errors: Sequence[ErrorRecord], now: dt.datetime | None = None) -> list[dict]:
    now = now or dt.datetime.now(dt.UTC)
    return [{"unit_id": unit, "source": e.source, "stage": e.stage, "error_type": e.error_type,
             "message": e.message, "raw_sha256": e.raw_sha256, "occurred_at": now} for e in errors]


def per_table_files(result: SourceResult) -> dict[str, pa.Table]:
    """``<doc_id>/<table_id>`` -> typed table of every table of a result, in memory (the output
    keeps tables as ``table_cells`` rows; ``pipeline.api.Output.table`` types one on reading)."""
    return {f"{d.doc_id}/{t.table_id}": typed_table(t) for d in result.documents for t in d.tables}


# --- partitions -----------------------------------------------------------------------------

FIRST_YEAR, LAST_YEAR = 1000, 9999  # a four-digit year; anything else is a misread date, not a partition


def partition_of(result: SourceResult) -> str:
    """``doc_kind=<kind>/year=<year>``: where an input's rows live (see ``pipeline.schema``)."""
    kind = "error" if result.kind == "error" or not result.documents else result.kind
    return f"doc_kind={kind}/year={unit_year(result)}"


def unit_year(result: SourceResult) -> int:
    """The issue's year for a gazette issue, else the first document's signed date, else a web
    page's publication date; ``UNDATED_YEAR`` when there is none."""
    years = [_leading_year(d.issue) for d in result.documents]
    for d in result.documents:
        years += [_leading_year(d.signed_date), d.published_at.year if d.published_at else None]
    return next((y for y in years if y is not None and FIRST_YEAR <= y <= LAST_YEAR), UNDATED_YEAR)


def _leading_year(text: str | None) -> int | None:
    head = (text or "")[:4]
    return int(head) if head.isdigit() else None
