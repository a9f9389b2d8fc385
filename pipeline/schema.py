"""Every Parquet dataset's schema, in one place, versioned and described.

``SCHEMA_VERSION`` is written into each file's metadata; the store refuses to mix files of
another version (re-run ``gazette reprocess --all`` into a fresh output after a bump).
Every column carries its description in the Arrow field metadata (``description``), so
``pq.read_schema(f).field("toc_complete").metadata[b"description"]`` says what it holds.

Every row belongs to a *key* whose next write replaces it (``KEYS``): the unit (an issue,
a page: ``unit_id``) for the parsed rows, the input location (``source``) for ``errors``
and ``inputs`` (lineage). The two logs (``runs``, ``fetches``) are append-only: a run adds
its rows, nothing replaces them.

Partitions (``PARTITION_KEYS``), the keys analysts filter on: a unit's rows and its input's
rows live under ``doc_kind=<gazette_pdf|pdf|html|error>/year=<YYYY>/``: ``doc_kind`` is the
kind of the input (``error`` when it gave no document), ``year`` the issue's year for a
gazette issue, else the first document's signed date, else a web page's publication date
(China Standard Time), and ``0`` when no date is known (not null: pandas cannot combine a
null partition value with the others). The logs live under ``year=<YYYY>/`` of the run.
Neither name is a column inside the files (``kind`` already is, with another meaning in
``tables``), so a reader with Hive partitioning adds them without a clash.

Levels in ``sections.level``: front (text before the first heading), part (第X编/第X部分),
supplementary (附则 closing a code, beside its 编), subpart (第X分编), chapter (第X章), section (第X节), article (第X条), item (一、), subitem (（一）),
point (1.), subpoint (（1）), heading (an HTML heading without a number), back_matter.
"""

from __future__ import annotations

import pyarrow as pa

# 2: partitioned layout (doc_kind=/year=), column descriptions, the tables dataset in tables/
# (also 2: effective_date and validity in documents, the 附则 level)
SCHEMA_VERSION = "2"

_TS = pa.timestamp("us", tz="UTC")


def _col(name: str, type_: pa.DataType, description: str) -> pa.Field:
    return pa.field(name, type_, metadata={"description": description})


def _unit() -> pa.Field:
    return _col("unit_id", pa.string(), "the input unit (issue, page) whose re-processing replaces this row")


def _doc_id(note: str = "") -> pa.Field:
    return _col("doc_id", pa.string(), "document id: <unit_id>-NN, NN the document's place in its unit" + note)


DOCUMENTS = pa.schema(
    [
        _unit(),
        _doc_id(),
        _col("kind", pa.string(), "gazette_pdf (an issue of a gazette), pdf (another PDF) or html (a web page or post)"),
        _col("issue", pa.string(), "the gazette issue, 年份-期号, e.g. 2021-29"),
        _col("title", pa.string(), "the document's title"),
        _col("doc_number", pa.string(), "文号, e.g. 穗府办〔2021〕9号"),
        _col("issuer", pa.string(), "the issuing body"),
        _col("signed_date", pa.date32(), "the date the document was signed (成文日期)"),
        _col("publication", pa.string(), "公开方式, e.g. 主动公开"),
        _col("effective_date", pa.date32(), "生效日期 / 施行日期 of a legal database's metadata block"),
        _col("validity", pa.string(), "效力范围 / 时效性 of a legal database's metadata block: 全文有效, 现行有效, ..."),
        _col("source", pa.string(), "the input's path or URL"),
        _col("raw_sha256", pa.string(), "sha256 of the input's bytes: its file in the raw store"),
        _col("page_start", pa.int32(), "first physical page (1-based) of the document in its PDF"),
        _col("page_end", pa.int32(), "last physical page of the document in its PDF"),
        _col("printed_page_start", pa.int32(), "the page number printed on page_start"),
        _col("n_sections", pa.int32(), "headings of any level found in the body"),
        _col("n_chapters", pa.int32(), "第X章 headings found in the body"),
        _col("n_tables", pa.int32(), "tables found in the document"),
        _col("toc_entries", pa.int32(), "编/章/节 entries of the document's own 目录"),
        _col("toc_complete", pa.bool_(), "every 目录 entry found in the body (null: the document has no 目录)"),
        _col("toc_problems", pa.int32(), "目录 entries not ok, plus extra headings, gaps and duplicates"),
        _col("published_at", pa.timestamp("us", tz="+08:00"),
             "web pages: publication time, China Standard Time as the sources print it (null for PDFs)"),
        _col("source_name", pa.string(), "web pages: the publishing outlet (来源)"),
        _col("author", pa.string(), "web pages: the author or editor"),
        _col("categories", pa.list_(pa.string()), "web pages: the site's categories"),
        _col("tags", pa.list_(pa.string()), "web pages: the site's tags"),
        _col("url", pa.string(), "web pages: the URL the page was fetched from"),
        _col("canonical_url", pa.string(), "web pages: the page's canonical URL (rel=canonical, og:url)"),
        _col("original_url", pa.string(), "web pages: the original article a repost links to"),
        _col("images", pa.list_(pa.struct([("src", pa.string()), ("alt", pa.string()), ("caption", pa.string())])),
             "web pages: images of the body with their alt text and caption"),
        _col("warnings", pa.list_(pa.string()), "what could not be read as expected (a page read another way, ...)"),
        _col("pipeline_version", pa.string(), "the PIPELINE_VERSION that wrote the row"),
        _col("processed_at", _TS, "when the input was parsed (UTC)"),
    ]
)

SECTIONS = pa.schema(
    [
        _unit(),
        _doc_id(),
        _col("seq", pa.int32(), "the section's place in its document, from 0"),
        _col("level", pa.string(), "front, part, subpart, chapter, section, article, item, subitem, point, subpoint, "
                                   "heading or back_matter"),
        _col("number", pa.int32(), "the heading's number (第三章: 3)"),
        _col("heading", pa.string(), "the heading as printed, number included"),
        _col("title", pa.string(), "the heading without its number"),
        _col("parent_seq", pa.int32(), "seq of the enclosing section (null at the top)"),
        _col("path", pa.string(), "the headings from the top down to this one, e.g. 第三章/第一节"),
        _col("depth", pa.int32(), "nesting depth, 0 at the top"),
        _col("text", pa.string(), "the text under the heading: paragraphs separated by a newline, a table as [表 N]"),
        _col("page_start", pa.int32(), "first physical page of the section"),
        _col("page_end", pa.int32(), "last physical page of the section"),
    ]
)

TABLES = pa.schema(
    [
        _unit(),
        _doc_id(),
        _col("table_id", pa.string(), "t1, t2, ... in the document's reading order"),
        _col("caption", pa.string(), "the title printed above the table"),
        _col("label", pa.string(), "附件 / 附件1, when the table is an annex"),
        _col("kind", pa.string(), "ruled, borderless or html"),
        _col("section_seq", pa.int32(), "seq of the section the table stands in"),
        _col("page_start", pa.int32(), "first physical page of the table (merged across pages)"),
        _col("page_end", pa.int32(), "last physical page of the table"),
        _col("bbox", pa.list_(pa.float64()), "x0, top, x1, bottom on page_start, in points from the top-left corner"),
        _col("n_rows", pa.int32(), "data rows (header rows not counted)"),
        _col("n_cols", pa.int32(), "columns"),
        _col("header", pa.list_(pa.string()), "one name per column; stacked header rows joined top down by /"),
    ]
)

TABLE_CELLS = pa.schema(
    [
        _unit(),
        _doc_id(),
        _col("table_id", pa.string(), "the table in tables"),
        _col("row", pa.int32(), "0-based data row"),
        _col("col", pa.int32(), "0-based column"),
        _col("column_name", pa.string(), "the column's name: its header, col_N when empty, _2 for a repeated name"),
        _col("value", pa.string(), "the cell's text; a merged cell's value is repeated in every position it covers"),
    ]
)

REMOVED = pa.schema(
    [
        _unit(),
        _doc_id(" (null for issue-level lines: cover, issue 目录)"),
        _col("page", pa.int32(), "the physical page the line was on"),
        _col("text", pa.string(), "the line as extracted"),
        _col("reason", pa.string(), "why it left the text: watermark, rotated_text, running_header, running_footer, "
                                    "page_number, toc, issue_cover, issue_toc, navigation, back_link, source_line, ..."),
    ]
)

TOC_CHECKS = pa.schema(
    [
        _unit(),
        _doc_id(" (issue-level rows, level = document: the unit's id)"),
        _col("level", pa.string(), "the 目录 entry's level (part, chapter, section) or document for the issue 目录"),
        _col("number", pa.int32(), "the entry's number"),
        _col("parent_number", pa.int32(), "number of the enclosing entry"),
        _col("toc_title", pa.string(), "the title as the 目录 prints it"),
        _col("body_title", pa.string(), "the title of the matching heading in the body"),
        _col("status", pa.string(), "ok, title_mismatch, missing, out_of_order, page_mismatch, extra, gap or duplicate"),
        _col("similarity", pa.float64(), "similarity of toc_title and body_title, 0 to 1"),
        _col("toc_page", pa.int32(), "the page the 目录 gives"),
        _col("body_page", pa.int32(), "the printed page the heading is on"),
        _col("detail", pa.string(), "what is wrong, in words"),
    ]
)

ERRORS = pa.schema(
    [
        _col("unit_id", pa.string(), "the unit the input would have filled (a hash of its bytes or location on failure)"),
        _col("source", pa.string(), "the input's path or URL; its next run replaces this row"),
        _col("stage", pa.string(), "where it failed: read, sniff, extract, html, fetch, pipeline, write, ..."),
        _col("error_type", pa.string(), "a short tag: encrypted, no_text_layer, timeout, worker_died, ..."),
        _col("message", pa.string(), "what happened, in words"),
        _col("raw_sha256", pa.string(), "sha256 of the input's bytes (null when they could not be read)"),
        _col("occurred_at", _TS, "when it failed (UTC)"),
    ]
)

RUNS = pa.schema(
    [
        _col("run_id", pa.string(), "the run's id"),
        _col("flow", pa.string(), "cli-ingest or the Prefect flow's name"),
        _col("inputs", pa.list_(pa.string()), "the paths or URLs the run was given (the first 1000)"),
        _col("documents", pa.int32(), "documents parsed"),
        _col("sections", pa.int32(), "headings found"),
        _col("tables", pa.int32(), "tables found"),
        _col("removed", pa.int32(), "lines taken out of the text"),
        _col("warnings", pa.int32(), "warnings raised"),
        _col("errors", pa.int32(), "inputs that failed"),
        _col("skipped", pa.int32(), "inputs whose bytes this pipeline version had processed already"),
        _col("started_at", _TS, "when the run started (UTC)"),
        _col("duration_s", pa.float64(), "wall time of the run in seconds"),
        _col("pipeline_version", pa.string(), "the PIPELINE_VERSION of the run"),
    ]
)

FETCHES = pa.schema(
    [
        _col("url", pa.string(), "the URL asked for"),
        _col("final_url", pa.string(), "the URL after redirects"),
        _col("sha256", pa.string(), "sha256 of the body: its file in the raw store"),
        _col("http_status", pa.int32(), "the HTTP status"),
        _col("etag", pa.string(), "the ETag header, for the next conditional request"),
        _col("last_modified", pa.string(), "the Last-Modified header, for the next conditional request"),
        _col("content_type", pa.string(), "the Content-Type header"),
        _col("bytes", pa.int64(), "body size in bytes"),
        _col("fetched_at", _TS, "when the response ended (UTC)"),
        _col("not_modified", pa.bool_(), "the server answered 304: the stored bytes are current"),
        _col("error", pa.string(), "what went wrong (null on success)"),
        _col("refused", pa.string(), "why the URL was not fetched at all (host not allowed, private address, ...)"),
    ]
)

INPUTS = pa.schema(
    [
        _col("source", pa.string(), "the input's path or URL; its next run replaces this row"),
        _col("raw_sha256", pa.string(), "sha256 of the bytes processed (empty when the fetch failed)"),
        _col("kind", pa.string(), "gazette_pdf, pdf, html or error"),
        _col("unit_id", pa.string(), "the unit its rows went to (null on error); a later input of the same issue "
                                     "replaces them: compare raw_sha256 with documents"),
        _col("doc_ids", pa.list_(pa.string()), "the documents it gave"),
        _col("status", pa.string(), "ok or error"),
        _col("error_type", pa.string(), "the first error's tag (null when ok)"),
        _col("pipeline_version", pa.string(), "the PIPELINE_VERSION that processed it"),
        _col("processed_at", _TS, "when it was processed (UTC)"),
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
# append-only logs: a part per run, never replaced
LOG_DATASETS = ("runs", "fetches")
# the column holding each replaceable dataset's key: the next write of a key replaces every row
# of it in every dataset of the same key column (a unit's rows; an input location's rows)
KEYS: dict[str, str] = {
    "documents": "unit_id", "sections": "unit_id", "tables": "unit_id", "table_cells": "unit_id",
    "removed": "unit_id", "toc_checks": "unit_id", "errors": "source", "inputs": "source",
}
PARTITION_KEYS: dict[str, tuple[str, ...]] = {
    name: ("year",) if name in LOG_DATASETS else ("doc_kind", "year") for name in DATASETS
}
# types of the partition columns, as readers with Hive partitioning see them
PARTITION_TYPES = {"doc_kind": pa.string(), "year": pa.int32()}
UNDATED_YEAR = 0  # partition of a unit with no date: not null (pandas cannot unify a null partition value)
# described like the columns, for ``gazette sql``'s views and open_output's datasets
PARTITION_FIELDS = {
    "doc_kind": _col("doc_kind", pa.string(), "partition: the input's kind (gazette_pdf, pdf, html, error)"),
    "year": _col("year", pa.int32(), "partition: the issue's or document's year (0: no date); for logs the run's year"),
}


def with_version(schema: pa.Schema) -> pa.Schema:
    return schema.with_metadata({**(schema.metadata or {}), b"gazette.schema_version": SCHEMA_VERSION.encode()})
