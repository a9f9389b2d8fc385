"""The ``gazette`` command line.

    gazette ingest raw/samples/ --out output      # parse PDFs / HTML pages / posts into Parquet
    gazette sql "SELECT count(*) FROM documents"  # DuckDB over the output, a view per dataset
    gazette tables --out output                   # list the tables found
    gazette validate --out output --strict        # 目录 check report; non-zero on problems
    gazette discover https://host/gazette/ --out output     # Prefect flow: fetch new issues
    gazette reprocess --outdated --out output     # Prefect flow: re-run from the raw store

Library errors become one-line messages here, at the boundary; the exit code is non-zero
when any input failed (1) or the command could not run (2: a usage error, an unusable
``--out``, no input, no output to read). Names and messages are printed with their
non-printable characters escaped, so a file name cannot forge a line or drive the terminal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
import uuid
from pathlib import Path

from tqdm import tqdm

from pipeline import PIPELINE_VERSION, __version__
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
from pipeline.isolation import Job, stream_jobs
from pipeline.model import SourceResult
from pipeline.rawstore import RawStore
from pipeline.rows import run_table
from pipeline.schema import DATASETS
from pipeline.settings import (
    MAX_DOC_TIMEOUT_S,
    MAX_LISTING_PAGES,
    MAX_MEMORY_BUDGET_MB,
    MAX_PARSE_WORKERS,
    MIN_DOC_TIMEOUT_S,
    MIN_PROCESS_MEMORY_MB,
    Settings,
)
from pipeline.storage import Store, open_store


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


def _check_out(out: str) -> str | None:
    """Why ``--out`` cannot take this run's output (checked before any input is parsed), or None."""
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
    started, t0 = dt.datetime.now(dt.UTC), time.perf_counter()
    candidates = find_inputs(args.paths)
    if not candidates:
        _error(f"error: no input files ({', '.join(INPUT_SUFFIXES)}) in {' '.join(args.paths)}")
        return 2
    problem = _check_out(args.out)
    if problem:
        _error(f"error: {problem}")
        return 2
    settings = _settings(args)
    raw = RawStore(args.raw) if args.raw else None
    store = open_store(args.out)
    done_before = set() if args.force else processed_inputs(store)
    hashes = HashCache(store.meta / "input-hashes.json" if isinstance(store, Store) else None)
    refused, jobs, skipped = _jobs(candidates, raw, settings, done_before, hashes)
    summary = Summary()
    bar = tqdm(total=len(jobs), unit="file", disable=args.quiet or not jobs, file=sys.stderr)
    with store.transaction() as tx:  # results stream into the output's files; one snapshot at the end
        writer = ResultWriter(tx)
        for result in refused:
            summary.add(result)
            writer.add(result)
        for _, result in stream_jobs(jobs, settings, workers=args.workers, isolate=not args.no_isolate):
            summary.add(result)
            writer.add(result)
            hashes.parsed(result.source, result.raw_sha256)
            bar.update(1)
            bar.set_postfix_str(printable(Path(result.source).name[:30]))
        bar.close()
        tx.flush()  # every row is converted now: an input whose rows the schema refuses is known
        summary.errors += writer.refused
        run = run_table(uuid.uuid4().hex[:12], "cli-ingest", [str(c.path) for c in candidates], summary.counts(),
                        started, time.perf_counter() - t0, skipped)
        tx.log("runs", run)
    hashes.save()
    for e in summary.errors:
        _error(f"error: {e.source}: {e.error_type}: {e.message}")
    print(printable(summary.line()))
    if skipped:
        print(f"skipped {skipped} inputs already processed by pipeline {PIPELINE_VERSION} (--force parses them again)")
    print(printable(f"wrote {args.out} (pipeline {PIPELINE_VERSION})"))
    return 1 if summary.errors else 0


def _jobs(candidates: list[Candidate], raw: RawStore | None, settings: Settings, done_before: set[str],
          hashes: HashCache) -> tuple[list[SourceResult], list[Job], int]:
    """(failed results, parse jobs, inputs skipped). Each input is checked first (a regular file
    inside its folder, not too large: else its failed result); its bytes are copied into the
    raw store, which keeps them for ``gazette reprocess`` (a failed copy is that input's error,
    not the batch's); an input whose bytes this pipeline version has processed is skipped."""
    refused: list[SourceResult] = []
    jobs: list[Job] = []
    skipped = 0
    for c in candidates:
        try:
            with open_input(c.path, c.root, settings.max_file_bytes):
                pass  # the checks only: the bytes are read below, or by the parse
        except InputError as exc:
            refused.append(failed_result(str(c.path), None, exc.stage, exc.reason, str(exc)))
            continue
        sha = hashes.sha256(c.path) if done_before or raw is not None else None
        if raw is not None and not raw.has(sha):
            stored = store_raw(raw, c.path, c.root, settings)
            if isinstance(stored, SourceResult):
                refused.append(stored)
                continue
        if sha is not None and sha in done_before:
            skipped += 1
            continue
        hashes.before_parse(c.path)  # the parse reads its bytes: their sha256 is remembered for the next run
        jobs.append(Job(c.path, str(c.path), {"root": str(c.root)}))
    return refused, jobs, skipped


def _open_output(out: str) -> Store | None:
    """The output to read, or None (with one line on stderr) when there is none."""
    store = open_store(out)
    if isinstance(store, Store) and store.current() is None:
        _error(f"error: no gazette output in {out} (run gazette ingest --out {out} first)")
        return None
    return store


def cmd_sql(args: argparse.Namespace) -> int:
    """Run DuckDB SQL over the output, every dataset a view under its own name (with the
    partition columns doc_kind and year). Example: gazette sql 'SELECT year, count(*) FROM documents GROUP BY 1'"""
    from pipeline.api import open_output

    relation = open_output(args.out).sql(args.query)  # an output not written yet: empty views
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
    store = _open_output(args.out)
    if store is None:
        return 2
    table = store.read("tables").sort_by([("doc_id", "ascending"), ("table_id", "ascending")])
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
    from pipeline.report import render_report

    store = _open_output(args.out)
    if store is None:
        return 2
    report, failing = render_report(store.read("documents"), store.read("toc_checks"))
    print("\n".join(printable(line) for line in report.split("\n")))
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

    p = sub.add_parser("discover", help="fetch a gazette listing's new issues and ingest them (Prefect flow)")
    p.add_argument("index_url")
    out_option(p)
    p.add_argument("--raw", default="raw", help="raw store (default: raw)")
    p.add_argument("--allow-host", action="append", default=[], help="another host that may be fetched")
    p.add_argument("--allow-private", action="store_true", help="allow loopback/private addresses (tests)")
    p.add_argument("--max-pages", type=_number(int, 1, MAX_LISTING_PAGES, "--max-pages"), default=20,
                   help=f"listing pages to follow (1 to {MAX_LISTING_PAGES})")
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
    except Exception as exc:  # one line for the operator, not a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
