"""The ``gazette`` command line.

    gazette ingest raw/samples/ --out output      # parse PDFs / HTML pages / posts into Parquet
    gazette sql "SELECT count(*) FROM documents"  # DuckDB over the output, a view per dataset
    gazette tables --out output                   # list the tables found
    gazette validate --out output --strict        # 目录 check report; non-zero on problems
    gazette discover https://host/gazette/ --out output     # Prefect flow: fetch new issues
    gazette reprocess --outdated --out output     # Prefect flow: re-run from the raw store

Each command calls the Python function of the same name (``gazette.ingest``, ``.tables``,
``.validate``, ``.open_output``, ``.discover``, ``.reprocess``) and prints what it returns.
Library errors become one-line messages here, at the boundary; the exit code is non-zero
when any input failed (1) or the command could not run (2: a usage error, an unusable
``--out``, no input, no output to read). Names and messages are printed with their
non-printable characters escaped, so a file name cannot forge a line or drive the terminal.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from tqdm import tqdm

import gazette
from flows.errors import TemporaryServerDidNotStart
from pipeline import PIPELINE_VERSION, __version__
from pipeline.api import UsageError
from pipeline.settings import (
    MAX_DOC_TIMEOUT_S,
    MAX_LISTING_PAGES,
    MAX_MEMORY_BUDGET_MB,
    MAX_PARSE_WORKERS,
    MIN_DOC_TIMEOUT_S,
    MIN_PROCESS_MEMORY_MB,
    Settings,
)


def printable(text: object) -> str:
    """``text`` with every non-printable character (newline, ESC, other controls, bidi
    overrides) written as its escape, so it stays one harmless line on a terminal."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _number(kind: type, low: float, high: float, what: str):
    """An argparse type: a finite ``kind`` in [low, high], else a usage error saying so."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or not low <= value <= high:
            shown = [f"{v:g}" if kind is float else str(v) for v in (low, high)]
            raise argparse.ArgumentTypeError(f"{what} must be between {shown[0]} and {shown[1]}, got {text}")
        return value

    return parse


def _settings(args: argparse.Namespace) -> Settings:
    changes = {}
    if getattr(args, "backend", None):
        changes["backend"] = args.backend
    if getattr(args, "timeout", None) is not None:
        changes["doc_timeout_s"] = args.timeout
    if getattr(args, "memory_mb", None) is not None:
        changes["memory_budget_mb"] = args.memory_mb
    if getattr(args, "workers", None) is not None:
        changes["parse_workers"] = args.workers
    return Settings(**changes)


def _error(text: str) -> None:
    print(printable(text), file=sys.stderr)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Parse inputs into Parquet; inputs whose bytes this pipeline version has processed are
    skipped (--force parses them again). Example: gazette ingest raw/samples --out output"""
    bars: list[tqdm] = []  # made once the inputs are checked: a usage error prints no bar

    def start(total: int) -> None:
        bars.append(tqdm(total=total, unit="file", disable=args.quiet or not total, file=sys.stderr))

    def done(result) -> None:
        if not bars[0].disable:  # (-q: nothing shown, nothing to format for each of 20,000 pages)
            bars[0].update(1)
            bars[0].set_postfix_str(printable(Path(result.source).name[:30]))

    try:
        run = gazette.ingest(args.paths, args.out, raw=args.raw, workers=args.workers, force=args.force,
                             isolate=not args.no_isolate, settings=_settings(args), on_start=start, on_result=done)
    finally:
        for bar in bars:
            bar.close()
    for e in run.errors:
        _error(f"error: {e.source}: {e.error_type}: {e.message}")
    print(printable(run.summary.line()))
    if run.skipped:
        print(f"skipped {run.skipped} inputs already processed by pipeline {PIPELINE_VERSION} (--force parses them again)")
    print(printable(f"wrote {args.out} (pipeline {PIPELINE_VERSION})"))
    return 1 if run.errors else 0


def cmd_sql(args: argparse.Namespace) -> int:
    """Run DuckDB SQL over the output, every dataset a view under its own name (with the
    partition columns doc_kind and year). Example: gazette sql 'SELECT year, count(*) FROM documents GROUP BY 1'"""
    relation = gazette.open_output(args.out).sql(args.query)  # an output not written yet: empty views
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
    table = gazette.tables(args.out)
    for row in table.to_pylist():
        pages = "-" if row["page_start"] is None else f"p.{row['page_start']}"
        if row["page_end"] not in (None, row["page_start"]):
            pages += f"-{row['page_end']}"
        caption = row["caption"] or "(no caption)"
        print(printable(f"{row['doc_id']}  {row['table_id']:<4} {pages:<9} {row['n_rows']:>4} x {row['n_cols']:<3} "
                        f"{row['kind']:<10} {caption}"))
    print(f"{table.num_rows} tables")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Report each document's 目录 check. Example: gazette validate --out output --strict"""
    report = gazette.validate(args.out)
    print("\n".join(printable(line) for line in report.text.split("\n")))
    return 1 if args.strict and report.failing else 0


def cmd_discover(args: argparse.Namespace) -> int:
    """Fetch a gazette listing's new issues and ingest them (Prefect flow).
    Example: gazette discover https://www.gz.gov.cn/gfxwj/szfgb/ --out output"""
    result = gazette.discover(args.index_url, args.out, args.raw or "raw", allowed_hosts=args.allow_host,
                              allow_private=args.allow_private, max_pages=args.max_pages)
    print(printable(result["summary"] + f"; {result['skipped']} unchanged"))
    return 1 if result["errors"] else 0


def cmd_reprocess(args: argparse.Namespace) -> int:
    """Re-run the pipeline from the raw store (Prefect flow). Example: gazette reprocess --outdated"""
    selection = "issue" if args.issue else ("all" if args.all else "outdated")
    result = gazette.reprocess(selection, args.out, args.raw or "raw", issue=args.issue)
    print(printable(result["summary"]))
    return 1 if result["errors"] else 0


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
    p.add_argument("--workers", type=_number(int, 1, MAX_PARSE_WORKERS, "--workers"), default=1,
                   help=f"documents parsed in parallel processes (1 to {MAX_PARSE_WORKERS}; they share --memory-mb)")
    p.add_argument("--backend", choices=["auto", "pdfplumber", "pdfium"], help="PDF text backend (default auto)")
    p.add_argument("--timeout", type=_number(float, MIN_DOC_TIMEOUT_S, MAX_DOC_TIMEOUT_S, "--timeout"),
                   help="per-document time budget in seconds (default 600)")
    p.add_argument("--memory-mb", type=_number(int, MIN_PROCESS_MEMORY_MB, MAX_MEMORY_BUDGET_MB, "--memory-mb"),
                   help="memory budget of all parse processes together, in MB (default 4096)")
    p.add_argument("--no-isolate", action="store_true", help="parse in this process (no time budget)")
    p.add_argument("--force", action="store_true", help="parse inputs this pipeline version has processed already")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_ingest, usage_error=p.error)

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

    p = sub.add_parser("discover", help=cmd_discover.__doc__)
    p.add_argument("index_url")
    out_option(p)
    p.add_argument("--raw", default="raw", help="raw store (default: raw)")
    p.add_argument("--allow-host", action="append", default=[], help="another host that may be fetched")
    p.add_argument("--allow-private", action="store_true", help="allow loopback/private addresses (tests)")
    p.add_argument("--max-pages", type=_number(int, 1, MAX_LISTING_PAGES, "--max-pages"), default=20,
                   help=f"listing pages to follow (1 to {MAX_LISTING_PAGES})")
    p.set_defaults(func=cmd_discover)

    p = sub.add_parser("reprocess", help=cmd_reprocess.__doc__)
    out_option(p)
    p.add_argument("--raw", default="raw", help="raw store (default: raw)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--issue", help="one issue id, e.g. 2021-29")
    group.add_argument("--outdated", action="store_true", help="documents of an older pipeline_version")
    group.add_argument("--all", action="store_true", help="every document")
    p.set_defaults(func=cmd_reprocess)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "raw", None) == "":
        args.raw = None
    if args.command == "ingest":
        budget = args.memory_mb or Settings.memory_budget_mb
        share = budget // args.workers
        if share < MIN_PROCESS_MEMORY_MB:  # the combination is a usage error too
            args.usage_error(f"--workers {args.workers} leaves {share} MB of the {budget} MB "
                             f"memory budget (--memory-mb) to each document; each needs {MIN_PROCESS_MEMORY_MB} MB")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except UsageError as exc:  # no input, an output that cannot be written or read
        _error(f"error: {exc}")
        return 2
    except TemporaryServerDidNotStart as exc:
        _error(f"error: {exc}")
        return 2
    except Exception as exc:  # one line for the operator, not a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
