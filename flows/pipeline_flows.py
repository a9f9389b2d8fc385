"""Prefect flows: thin wrappers around ``pipeline`` that add retries, caching, logs,
artifacts and concurrency.

* ``ingest(sources)``: paths or URLs of PDFs, HTML pages and posts.
* ``discover_and_ingest(index_url)``: crawl a gazette listing, fetch new issues, ingest.
* ``reprocess(selection)``: re-run from the raw store (all / one issue / outdated).

Many documents run in one flow run: one ``parse`` task per new input, submitted together
(two threads by default, each waiting on the document's own process from
``pipeline.isolation``, which carries the time budget and memory cap; a Dask cluster with
``with_runner(flow, "dask")``). Inputs whose bytes the ``inputs`` dataset already holds for
this ``PIPELINE_VERSION`` get no task at all; ``parse`` is also cached on the raw bytes'
sha256 + version + code fingerprint with persisted results. All results of a run are
committed in one atomic snapshot; the run's row goes to the ``runs`` log (``pipeline.storage``).
"""

# No ``from __future__ import annotations`` here: Prefect validates flow parameters against the
# annotations, and a served run (the flow cloudpickled into a subprocess) cannot resolve them
# as strings (tests/test_flows.py::test_deploy_serves_discover_on_its_cron_schedule).
import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx
import pyarrow as pa
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

import pipeline
from pipeline import PIPELINE_VERSION
from pipeline.discover import crawl_listing
from pipeline.fetch import Fetcher, FetchSettings, UrlPolicy
from pipeline.ingest import (
    RETRIABLE,
    Summary,
    commit_results,
    failed_result,
    find_inputs,
    processed_inputs,
    store_raw,
)
from pipeline.isolation import parse_isolated, start_parse_service
from pipeline.model import SourceResult
from pipeline.rawstore import FetchManifest, FetchResult, RawStore
from pipeline.report import render_markdown
from pipeline.rows import run_table
from pipeline.settings import Settings, resolve
from pipeline.storage import open_store


def _code_fingerprint() -> str:
    """Hash of the library's source: a cached parse from other code is never reused."""
    digest = hashlib.sha256()
    for path in sorted(Path(pipeline.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


CODE_FINGERPRINT = _code_fingerprint()


def _parse_cache_key(context, parameters) -> str:
    settings = hashlib.sha256(repr(parameters.get("settings")).encode()).hexdigest()[:8]
    return f"parse-{parameters['sha256']}-{PIPELINE_VERSION}-{CODE_FINGERPRINT}-{settings}"


class ParseFailed(Exception):
    """A parse that may succeed on another try (the document's process timed out or died).

    Raised so that the task run shows as failed and its result is not cached; the flow
    still records the error row carried in ``result``.
    """

    def __init__(self, result: SourceResult) -> None:
        super().__init__(result)
        self.result = result

    def __str__(self) -> str:
        return "; ".join(f"{e.error_type}: {e.message}" for e in self.result.errors)


def _parse_logged(path: str, source: str, settings: Settings | None) -> SourceResult:
    started = time.perf_counter()
    result = parse_isolated(path, source, settings)
    log = get_run_logger()
    for err in result.errors:
        log.warning("%s: %s: %s", source, err.error_type, err.message)
    if any(err.error_type in RETRIABLE for err in result.errors):
        raise ParseFailed(result)
    log.info("%s: %d documents, %d sections, %d tables in %.2f s", source, len(result.documents),
             sum(len(d.sections) for d in result.documents), sum(len(d.tables) for d in result.documents),
             time.perf_counter() - started)
    return result


def _worth_retrying(task, task_run, state) -> bool:
    """Retry a dead worker or an infrastructure error once; a document past its time budget
    would only take the whole budget again."""
    try:
        state.result()
    except ParseFailed as exc:
        return all(e.error_type != "timeout" for e in exc.result.errors)
    except Exception:
        return True
    return False


@task(cache_key_fn=_parse_cache_key, persist_result=True, retries=1, retry_delay_seconds=1,
      retry_condition_fn=_worth_retrying, task_run_name="parse {source}")
def parse(path: str, sha256: str, source: str, settings: Settings | None = None) -> SourceResult:
    """One document through every pipeline stage, in its own process with the time budget
    and memory cap (cached on content hash + version)."""
    return _parse_logged(path, source, settings)


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=1, retry_condition_fn=_worth_retrying,
      task_run_name="parse-fresh {source}")
def parse_fresh(path: str, sha256: str, source: str, settings: Settings | None = None) -> SourceResult:
    """``parse`` without the cache, for re-processing on demand."""
    return _parse_logged(path, source, settings)


# One retry layer for downloads: the Fetcher's own (pipeline/fetch.py). It knows HTTP: it
# retries 5xx, 429 and dropped connections with backoff, honours Retry-After, retries a
# timeout once, and never raises for a bad URL (the result says what went wrong). A Prefect
# retry on top would only re-run a bug, or repeat every one of those attempts.
@task(cache_policy=NO_CACHE, task_run_name="fetch {url}")
def fetch(fetcher: Fetcher, url: str, expect: str | None = None) -> FetchResult:
    return fetcher.fetch(url, expect=expect)


@task(cache_policy=NO_CACHE)
def commit(out: str, results: list[SourceResult], run: pa.Table, fetches: pa.Table | None = None) -> None:
    run_id = run.column("run_id")[0].as_py()
    extra = {"runs": {run_id: run}}
    if fetches is not None and fetches.num_rows:
        extra["fetches"] = {run_id: fetches}  # this run's fetches: its part of the log
    commit_results(open_store(out), results, extra)


def _task_runner(name: str | None):
    if name == "dask":
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True})
    return None


def _publish(flow_name: str, summary: Summary, results: Sequence[SourceResult]) -> None:
    lines = [f"## {flow_name}: {summary.line()}", "", "| source | documents | sections | tables | removed | errors |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.source} | {len(r.documents)} | {sum(len(d.sections) for d in r.documents)} | "
                     f"{sum(len(d.tables) for d in r.documents)} | {len(r.removed)} | "
                     f"{'; '.join(e.error_type + ': ' + e.message for e in r.errors)} |")
    create_markdown_artifact("\n".join(lines), key=f"{flow_name.replace('_', '-')}-summary", description="run summary")
    rows = [{"doc_id": d.doc_id, "level": c.level, "number": c.number, "status": c.status, "toc_title": c.toc_title,
             "body_title": c.body_title, "similarity": c.similarity}
            for r in results for d in r.documents for c in d.toc_checks if c.status != "ok"]
    if any(d.toc for r in results for d in r.documents):
        create_table_artifact(rows or [{"status": "all 目录 entries ok"}], key="toc-check", description="目录 drift")
        report = "\n".join(render_markdown(d.doc_id, d.toc_checks) for r in results for d in r.documents if d.toc)
        create_markdown_artifact(report, key="toc-report", description="目录 check per document")


# the most parse tasks a flow runs at once (discover_and_ingest's threads): they share the memory budget
FLOW_PARSES_AT_ONCE = 4


def _parse_all(items: Sequence[tuple[str, str, str]], settings: Settings | None, fresh: bool = False) -> list[SourceResult]:
    runner = parse_fresh if fresh else parse
    settings = resolve(settings).with_(parse_workers=FLOW_PARSES_AT_ONCE)
    if items:
        start_parse_service(wait=False)  # its start-up overlaps the task runs' creation
    futures = [runner.submit(path, sha, source, settings) for path, sha, source in items]
    return [_with_source(_outcome(f, sha, source), source) for f, (_, sha, source) in zip(futures, items, strict=True)]


def _outcome(future, sha: str, source: str) -> SourceResult:
    """A parse task's result; a failed task still gives the input its error row."""
    value = future.result(raise_on_failure=False)
    if isinstance(value, ParseFailed):
        return value.result
    if isinstance(value, BaseException):
        return failed_result(source, sha, "pipeline", type(value).__name__, str(value)[:500])
    return value


def _with_source(result: SourceResult, source: str) -> SourceResult:
    """The parse cache is keyed on content: bytes first seen elsewhere keep this input's source."""
    result.source = source
    for doc in result.documents:
        doc.source = source
    for err in result.errors:
        err.source = source
    return result


# parse is CPU-bound Python (and PDFium calls are serialised): more threads only contend
PARSE_THREADS = ThreadPoolTaskRunner(max_workers=2)


@flow(name="ingest", log_prints=True, task_runner=PARSE_THREADS)
def ingest(sources: list[str], out: str = "output", raw: str = "raw", allowed_hosts: list[str] | None = None,
           allow_private: bool = False, settings: Settings | None = None) -> dict:
    """Ingest local paths or URLs of PDFs, HTML pages and posts."""
    t0, started = time.perf_counter(), dt.datetime.now(dt.UTC)
    store = RawStore(raw)
    urls = [s for s in sources if "://" in s]
    manifest = FetchManifest.from_table(open_store(out).read("fetches")) if urls else None
    items, failed = [], []
    for candidate in find_inputs(s for s in sources if s not in urls):
        # a path is read as ``gazette ingest`` reads it (regular files inside its folder only);
        # what cannot be read or copied is that input's errors row
        stored = store_raw(store, candidate.path, candidate.root, settings, str(candidate.path))
        if isinstance(stored, tuple):
            items.append((str(stored[1]), stored[0], str(candidate.path)))
        else:
            failed.append(stored)
    if urls:  # no HTTP client (and its TLS set-up) for a run over local files
        policy = UrlPolicy(frozenset(set(allowed_hosts or []) | {_host(u) for u in urls}), allow_private)
        with Fetcher(store, policy, FetchSettings(), manifest=manifest) as fetcher:
            for url, future in [(u, fetch.submit(fetcher, u)) for u in urls]:
                res = future.result()
                if res.ok and res.sha256:
                    items.append((str(store.path_for(res.sha256)), res.sha256, url))
                else:
                    failed.append(_fetch_failure(url, res))
    known = _known(out)
    fresh = [item for item in items if item[1] not in known]  # unchanged bytes: nothing to parse or write
    results = _parse_all(fresh, settings) + failed
    return _finish("ingest", out, results, sources, started, t0, manifest, len(items) - len(fresh))


def _known(out: str) -> set[str]:
    """raw_sha256 of every input already processed by this pipeline_version (``gazette ingest``
    skips the same ones)."""
    return processed_inputs(open_store(out))


def _host(url: str) -> str:
    return httpx.URL(url).host


def _fetch_failure(url: str, res: FetchResult) -> SourceResult:
    reason = "refused" if res.refused else "fetch_failed"
    return failed_result(url, None, "fetch", reason, res.refused or res.error or f"http {res.status}")


def _finish(name: str, out: str, results: list[SourceResult], inputs: Sequence[str], started, t0, manifest=None,
            skipped: int = 0) -> dict:
    summary = Summary()
    for r in results:
        summary.add(r)
    run_id = uuid.uuid4().hex[:12]
    row = run_table(run_id, name, inputs, summary.counts(), started, time.perf_counter() - t0, skipped)
    fetches = manifest.to_table(new_only=True) if manifest is not None and manifest.changed else None
    if results or fetches is not None:
        # quote(): Prefect would otherwise walk every result object graph to track task inputs
        commit(out, quote(results), row, fetches)
    else:  # nothing new was parsed or fetched: only this run's row to write, no task run needed
        commit.fn(out, results, row)
    _publish(name, summary, results)
    get_run_logger().info(summary.line())
    return {"summary": summary.line(), "errors": len(summary.errors), "documents": summary.documents,
            "skipped": skipped, "run_id": run_id}


@flow(name="discover_and_ingest", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=4))
def discover_and_ingest(index_url: str, out: str = "output", raw: str = "raw", allowed_hosts: list[str] | None = None,
                        allow_private: bool = False, max_pages: int = 20, settings: Settings | None = None,
                        fetch_settings: FetchSettings | None = None) -> dict:
    """Crawl a gazette listing (paginated), fetch issues not ingested yet, ingest them."""
    t0, started = time.perf_counter(), dt.datetime.now(dt.UTC)
    log = get_run_logger()
    store = RawStore(raw)
    manifest = FetchManifest.from_table(open_store(out).read("fetches"))
    known = _known(out)
    policy = UrlPolicy(frozenset({_host(index_url), *(allowed_hosts or [])}), allow_private)
    results: list[SourceResult] = []
    items: list[tuple[str, str, str]] = []
    skipped = 0
    with Fetcher(store, policy, fetch_settings or FetchSettings(), manifest=manifest) as fetcher:
        crawl = crawl_listing(fetcher, index_url, max_pages=max_pages)
        for warning in crawl.warnings:
            log.warning(warning)
        for refusal in crawl.refused:
            log.warning("refused %s: %s", refusal.url, refusal.reason)
            manifest.add(FetchResult(url=refusal.url, final_url=None, status=None, sha256=None, path=None, etag=None,
                                     last_modified=None, content_type=None, bytes=0,
                                     fetched_at=dt.datetime.now(dt.UTC), not_modified=False, error=None,
                                     refused=refusal.reason))
            results.append(_fetch_failure(refusal.url, manifest.latest(refusal.url, successful=False)))
        for err in crawl.errors:
            results.append(_fetch_failure(err.url, err))
        futures = [fetch.submit(fetcher, item.url, "pdf" if item.url.lower().endswith(".pdf") else None) for item in crawl.items]
        for item, fut in zip(crawl.items, futures, strict=True):
            res = fut.result()
            if not (res.ok and res.sha256):
                results.append(_fetch_failure(item.url, res))
                continue
            if res.sha256 in known:
                skipped += 1  # unchanged bytes (304 or same content): nothing to parse
                continue
            items.append((str(store.path_for(res.sha256)), res.sha256, item.url))
    results = _parse_all(items, settings) + results
    log.info("%d listing items, %d new, %d unchanged, %d refused", len(crawl.items), len(items), skipped, len(crawl.refused))
    return _finish("discover_and_ingest", out, results, [index_url], started, t0, manifest, skipped)


@flow(name="reprocess", log_prints=True, task_runner=PARSE_THREADS)
def reprocess(selection: str = "outdated", out: str = "output", raw: str = "raw", issue: str | None = None,
              settings: Settings | None = None) -> dict:
    """Re-run the pipeline from the raw store, without fetching.

    ``selection``: ``all``, ``issue`` (with ``issue="2021-29"``) or ``outdated`` (documents
    written by another ``pipeline_version``).
    """
    t0, started = time.perf_counter(), dt.datetime.now(dt.UTC)
    docs = open_store(out).read("documents").to_pylist()
    if selection == "issue":
        docs = [d for d in docs if d["issue"] == issue]
    elif selection == "outdated":
        docs = [d for d in docs if d["pipeline_version"] != PIPELINE_VERSION]
    elif selection != "all":
        raise ValueError(f"unknown selection {selection!r}: all, issue or outdated")
    store = RawStore(raw)
    seen, items, missing = set(), [], []
    for d in docs:
        sha = d["raw_sha256"]
        if sha in seen:
            continue
        seen.add(sha)
        path = store.path_for(sha)
        if path is None:
            missing.append(d["source"])
            continue
        items.append((str(path), sha, d["source"]))
    if missing:
        get_run_logger().warning("%d sources are not in the raw store %s: %s", len(missing), raw, missing[:5])
    results = _parse_all(items, settings, fresh=True)
    return _finish("reprocess", out, results, [f"{selection}:{issue or ''}"], started, t0)


def with_runner(f, runner: str | None):
    """``f`` with the named task runner (``dask``: a local 2-process cluster)."""
    task_runner = _task_runner(runner)
    return f.with_options(task_runner=task_runner) if task_runner is not None else f
