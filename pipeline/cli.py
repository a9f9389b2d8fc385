"""The ``gazette`` command line.

    gazette ingest raw/samples/ --out output      # parse PDFs / HTML pages / posts into Parquet
    gazette sql "SELECT count(*) FROM documents"  # DuckDB over the output, a view per dataset
    gazette tables --out output                   # list the tables found
    gazette validate --out output --strict        # 目录 check report; non-zero on problems
    gazette discover https://host/gazette/ --out output     # Prefect flow: fetch new issues
    gazette reprocess --outdated --out output     # Prefect flow: re-run from the raw store

Library errors become one-line messages here, at the boundary; the exit code is non-zero
when any input failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import uuid
from pathlib import Path

from pipeline import PIPELINE_VERSION, __version__
from pipeline.hashcache import HashCache
from pipeline.ingest import ResultWriter, Summary, discover_inputs, processed_inputs
from pipeline.isolation import Job, stream_jobs
from pipeline.rows import run_table
from pipeline.settings import Settings
from pipeline.storage import Store, open_store


def _settings(args: argparse.Namespace) -> Settings:
    changes = {}
    if getattr(args, "backend", None):
        changes["backend"] = args.backend
    if getattr(args, "timeout", None) is not None:
        changes["doc_timeout_s"] = args.timeout
    return Settings(**changes)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Parse inputs into Parquet; inputs whose bytes this pipeline version has processed are
    skipped (--force parses them again). Example: gazette ingest raw/samples --out output"""
    from pipeline.rawstore import RawStore

    started, t0 = dt.datetime.now(dt.UTC), time.perf_counter()
    paths = discover_inputs(args.paths)
    missing = [p for p in paths if not p.exists()]
    settings = _settings(args)
    raw = RawStore(args.raw) if args.raw else None
    store = open_store(args.out)
    done_before = set() if args.force else processed_inputs(store)
    hashes = HashCache(store.meta / "input-hashes.json" if isinstance(store, Store) else None)
    jobs, skipped = [], 0
    for p in paths:
        if p in missing:
            continue
        sha = hashes.sha256(p) if done_before or raw is not None else None
        if raw is not None and p.stat().st_size <= settings.max_file_bytes and not raw.has(sha):
            raw.put_file(p)  # keep the bytes so `gazette reprocess` can re-run without the original
        if sha in done_before:
            skipped += 1
            continue
        hashes.before_parse(p)  # the parse reads its bytes: their sha256 is remembered for the next run
        jobs.append(Job(p, str(p)))
    summary = Summary()
    for p in missing:
        print(f"error: {p}: no such file", file=sys.stderr)
    from tqdm import tqdm  # loaded only where it is used: a run with nothing to parse starts faster

    bar = tqdm(total=len(jobs), unit="file", disable=args.quiet or not jobs, file=sys.stderr)
    with store.transaction() as tx:  # results stream into the output's files; one snapshot at the end
        writer = ResultWriter(tx)
        for _, result in stream_jobs(jobs, settings, workers=args.workers, isolate=not args.no_isolate):
            summary.add(result)
            writer.add(result)
            hashes.parsed(result.source, result.raw_sha256)
            bar.update(1)
            bar.set_postfix_str(Path(result.source).name[:30])
        bar.close()
        tx.flush()  # every row is converted now: an input whose rows the schema refuses is known
        summary.errors += writer.refused
        run = run_table(uuid.uuid4().hex[:12], "cli-ingest", [str(p) for p in paths], summary.counts(), started,
                        time.perf_counter() - t0, skipped)
        tx.log("runs", run)
    hashes.save()
    for e in summary.errors:
        print(f"error: {e.source}: {e.error_type}: {e.message}", file=sys.stderr)
    print(summary.line())
    if skipped:
        print(f"skipped {skipped} inputs already processed by pipeline {PIPELINE_VERSION} (--force parses them again)")
    print(f"wrote {args.out} (pipeline {PIPELINE_VERSION})")
    return 1 if summary.errors or missing else 0


def cmd_sql(args: argparse.Namespace) -> int:
    """Run DuckDB SQL over the output, every dataset a view under its own name (with the
    partition columns doc_kind and year). Example: gazette sql 'SELECT year, count(*) FROM documents GROUP BY 1'"""
    from pipeline.api import open_output

    relation = open_output(args.out).sql(args.query)
    if relation is None:  # a statement without a result (CREATE, SET, ...)
        return 0
    if args.csv:
        import pyarrow.csv as pacsv

        pacsv.write_csv(relation.to_arrow_table(), sys.stdout.buffer)
    else:
        relation.show(max_rows=args.max_rows, max_width=10_000)
    return 0


def cmd_tables(args: argparse.Namespace) -> int:
    """List tables: doc, caption, pages, rows x cols. Example: gazette tables --out output"""
    table = open_store(args.out).read("tables").sort_by([("doc_id", "ascending"), ("table_id", "ascending")])
    for row in table.to_pylist():
        pages = "-" if row["page_start"] is None else f"p.{row['page_start']}"
        if row["page_end"] not in (None, row["page_start"]):
            pages += f"-{row['page_end']}"
        caption = row["caption"] or "(no caption)"
        print(f"{row['doc_id']}  {row['table_id']:<4} {pages:<9} {row['n_rows']:>4} x {row['n_cols']:<3} {row['kind']:<10} {caption}")
    print(f"{table.num_rows} tables")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Report each document's 目录 check. Example: gazette validate --out output --strict"""
    from pipeline.toc import render_report

    store = open_store(args.out)
    report, failing = render_report(store.read("documents"), store.read("toc_checks"))
    print(report)
    return 1 if args.strict and failing else 0


def _flows_command(name: str):
    def run(args: argparse.Namespace) -> int:
        from flows import cli as flows_cli  # Prefect lives in flows/, loaded only for these commands

        return getattr(flows_cli, name)(args)

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gazette", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"gazette {__version__} (pipeline {PIPELINE_VERSION})")
    sub = parser.add_subparsers(dest="command", required=True)

    def out_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--out", default="output", help="output directory (default: output)")

    p = sub.add_parser("ingest", help=cmd_ingest.__doc__)
    p.add_argument("paths", nargs="+", help="PDF / HTML / .md files or directories")
    out_option(p)
    p.add_argument("--raw", default="raw", help="raw store for the input bytes (default: raw; '' to skip)")
    p.add_argument("--workers", type=int, default=1, help="documents parsed in parallel processes")
    p.add_argument("--backend", choices=["auto", "pdfplumber", "pdfium"], help="PDF text backend (default auto)")
    p.add_argument("--timeout", type=float, help="per-document time budget in seconds (default 600)")
    p.add_argument("--no-isolate", action="store_true", help="parse in this process (no time budget)")
    p.add_argument("--force", action="store_true", help="parse inputs this pipeline version has processed already")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("sql", help=cmd_sql.__doc__)
    p.add_argument("query", help="SQL; the datasets are views: documents, sections, tables, table_cells, ...")
    out_option(p)
    p.add_argument("--csv", action="store_true", help="every row as CSV instead of a table")
    p.add_argument("--max-rows", type=int, default=40, help="rows shown in the table (default 40)")
    p.set_defaults(func=cmd_sql)

    p = sub.add_parser("tables", help=cmd_tables.__doc__)
    out_option(p)
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser("validate", help=cmd_validate.__doc__)
    out_option(p)
    p.add_argument("--strict", action="store_true", help="exit 1 when anything is missing, out of order or extra")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("discover", help="fetch a gazette listing's new issues and ingest them (Prefect flow)")
    p.add_argument("index_url")
    out_option(p)
    p.add_argument("--raw", default="raw", help="raw store (default: raw)")
    p.add_argument("--allow-host", action="append", default=[], help="another host that may be fetched")
    p.add_argument("--allow-private", action="store_true", help="allow loopback/private addresses (tests)")
    p.add_argument("--max-pages", type=int, default=20, help="listing pages to follow")
    p.set_defaults(func=_flows_command("discover"))

    p = sub.add_parser("reprocess", help="re-run the pipeline from the raw store (Prefect flow)")
    out_option(p)
    p.add_argument("--raw", default="raw", help="raw store (default: raw)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--issue", help="one issue id, e.g. 2021-29")
    group.add_argument("--outdated", action="store_true", help="documents of an older pipeline_version")
    group.add_argument("--all", action="store_true", help="every document")
    p.set_defaults(func=_flows_command("reprocess"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "raw", None) == "":
        args.raw = None
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line for the operator, not a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
