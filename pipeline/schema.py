"""Every Parquet dataset's schema, in one place, versioned.

``SCHEMA_VERSION`` is written into each file's metadata; the store refuses to mix files of
another version (re-run ``gazette reprocess --all`` into a fresh output after a bump).
Every dataset carries ``unit_id``: the input (issue, page) whose re-processing replaces
its rows.

Levels in ``sections.level``: front (text before the first heading), part (第X编/第X部分),
supplementary (附则 closing a code, beside its 编), subpart (第X分编), chapter (第X章), section (第X节), article (第X条), item (一、), subitem (（一）),
point (1.), subpoint (（1）), heading (an HTML heading without a number), back_matter.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "2"

_TS = pa.timestamp("us", tz="UTC")

DOCUMENTS = pa.schema(
    [
        ("unit_id", pa.string()),
        ("doc_id", pa.string()),
        ("kind", pa.string()),  # gazette_pdf / pdf / html
        ("issue", pa.string()),  # 年份-期号, e.g. 2021-29
        ("title", pa.string()),
        ("doc_number", pa.string()),  # 文号
        ("issuer", pa.string()),
        ("signed_date", pa.date32()),
        ("publication", pa.string()),  # 公开方式
        ("effective_date", pa.date32()),  # 生效日期 / 施行日期 (a legal database's metadata block)
        ("validity", pa.string()),  # 效力范围 / 时效性: 全文有效, 现行有效, ...
        ("source", pa.string()),  # path or URL
        ("raw_sha256", pa.string()),
        ("page_start", pa.int32()),
        ("page_end", pa.int32()),
        ("printed_page_start", pa.int32()),
        ("n_sections", pa.int32()),
        ("n_chapters", pa.int32()),
        ("n_tables", pa.int32()),
        ("toc_entries", pa.int32()),  # 编/章/节 entries of the document's own 目录
        ("toc_complete", pa.bool_()),  # every 目录 entry found in the body (null: no 目录)
        ("toc_problems", pa.int32()),  # entries not ok, plus extra headings, gaps, duplicates
        # HTML metadata; null for PDFs
        ("published_at", pa.timestamp("us", tz="+08:00")),  # China Standard Time, as the sources print it
        ("source_name", pa.string()),
        ("author", pa.string()),
        ("categories", pa.list_(pa.string())),
        ("tags", pa.list_(pa.string())),
        ("url", pa.string()),
        ("canonical_url", pa.string()),
        ("original_url", pa.string()),
        ("images", pa.list_(pa.struct([("src", pa.string()), ("alt", pa.string()), ("caption", pa.string())]))),
        ("warnings", pa.list_(pa.string())),
        ("pipeline_version", pa.string()),
        ("processed_at", _TS),
    ]
)

SECTIONS = pa.schema(
    [
        ("unit_id", pa.string()),
        ("doc_id", pa.string()),
        ("seq", pa.int32()),
        ("level", pa.string()),
        ("number", pa.int32()),
        ("heading", pa.string()),
        ("title", pa.string()),
        ("parent_seq", pa.int32()),
        ("path", pa.string()),
        ("depth", pa.int32()),
        ("text", pa.string()),
        ("page_start", pa.int32()),
        ("page_end", pa.int32()),
    ]
)

TABLES = pa.schema(
    [
        ("unit_id", pa.string()),
        ("doc_id", pa.string()),
        ("table_id", pa.string()),
        ("caption", pa.string()),
        ("label", pa.string()),  # 附件 / 附件1
        ("kind", pa.string()),  # ruled / borderless / html
        ("section_seq", pa.int32()),
        ("page_start", pa.int32()),
        ("page_end", pa.int32()),
        ("bbox", pa.list_(pa.float64())),  # x0, top, x1, bottom on page_start
        ("n_rows", pa.int32()),
        ("n_cols", pa.int32()),
        ("header", pa.list_(pa.string())),
    ]
)

TABLE_CELLS = pa.schema(
    [
        ("unit_id", pa.string()),
        ("doc_id", pa.string()),
        ("table_id", pa.string()),
        ("row", pa.int32()),
        ("col", pa.int32()),
        ("column_name", pa.string()),
        ("value", pa.string()),
    ]
)

REMOVED = pa.schema(
    [
        ("unit_id", pa.string()),
        ("doc_id", pa.string()),  # null for issue-level lines (cover, issue 目录)
        ("page", pa.int32()),
        ("text", pa.string()),
        ("reason", pa.string()),
    ]
)

TOC_CHECKS = pa.schema(
    [
        ("unit_id", pa.string()),
        ("doc_id", pa.string()),  # issue-level rows (level = document): the unit's id
        ("level", pa.string()),
        ("number", pa.int32()),
        ("parent_number", pa.int32()),
        ("toc_title", pa.string()),
        ("body_title", pa.string()),
        ("status", pa.string()),
        ("similarity", pa.float64()),
        ("toc_page", pa.int32()),
        ("body_page", pa.int32()),
        ("detail", pa.string()),
    ]
)

ERRORS = pa.schema(
    [
        ("unit_id", pa.string()),
        ("source", pa.string()),
        ("stage", pa.string()),
        ("error_type", pa.string()),
        ("message", pa.string()),
        ("raw_sha256", pa.string()),
        ("occurred_at", _TS),
    ]
)

RUNS = pa.schema(
    [
        ("run_id", pa.string()),
        ("flow", pa.string()),
        ("inputs", pa.list_(pa.string())),
        ("documents", pa.int32()),
        ("sections", pa.int32()),
        ("tables", pa.int32()),
        ("removed", pa.int32()),
        ("warnings", pa.int32()),
        ("errors", pa.int32()),
        ("skipped", pa.int32()),
        ("started_at", _TS),
        ("duration_s", pa.float64()),
        ("pipeline_version", pa.string()),
    ]
)

FETCHES = pa.schema(
    [
        ("url", pa.string()),
        ("final_url", pa.string()),
        ("sha256", pa.string()),
        ("http_status", pa.int32()),
        ("etag", pa.string()),
        ("last_modified", pa.string()),
        ("content_type", pa.string()),
        ("bytes", pa.int64()),
        ("fetched_at", _TS),
        ("not_modified", pa.bool_()),
        ("error", pa.string()),
        ("refused", pa.string()),
    ]
)

# lineage: one row per input location (path or URL), replaced when that input is processed again
INPUTS = pa.schema(
    [
        ("source", pa.string()),
        ("raw_sha256", pa.string()),  # the bytes processed ("" when the fetch failed)
        ("kind", pa.string()),  # gazette_pdf / pdf / html / post / error
        ("unit_id", pa.string()),  # the unit its rows went to (null on error); a later input of the
        ("doc_ids", pa.list_(pa.string())),  # same issue replaces them: compare raw_sha256 with documents
        ("status", pa.string()),  # ok / error
        ("error_type", pa.string()),
        ("pipeline_version", pa.string()),
        ("processed_at", _TS),
    ]
)

DATASETS: dict[str, pa.Schema] = {
    "documents": DOCUMENTS,
    "sections": SECTIONS,
    "tables": TABLES,
    "table_cells": TABLE_CELLS,
    "removed": REMOVED,
    "toc_checks": TOC_CHECKS,
    "errors": ERRORS,
    "runs": RUNS,
    "fetches": FETCHES,
    "inputs": INPUTS,
}
# append-only logs: one part per run, never replaced, written outside the snapshots
LOG_DATASETS = ("runs", "fetches")
# datasets whose rows belong to an input unit and are replaced with it
UNIT_DATASETS = ("documents", "sections", "tables", "table_cells", "removed", "toc_checks", "errors")


def with_version(schema: pa.Schema) -> pa.Schema:
    return schema.with_metadata({b"gazette.schema_version": SCHEMA_VERSION.encode()})
