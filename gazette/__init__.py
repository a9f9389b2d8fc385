"""gazette: Chinese government gazettes (PDF) and finance-news pages (HTML) into Parquet.

The Python calls behind the ``gazette`` command, name for name:

    import gazette
    run = gazette.ingest(["raw/samples"], out="output")   # gazette ingest raw/samples --out output
    gazette.tables("output")                              # gazette tables --out output
    gazette.validate("output").text                       # gazette validate --out output
    gazette.open_output("output").sql("SELECT ...")       # gazette sql "SELECT ..." --out output
    gazette.discover("https://host/gazette/", out="output")  # gazette discover URL (Prefect flow)
    gazette.reprocess("outdated", out="output")           # gazette reprocess --outdated (Prefect flow)

The library (``pipeline``) never imports the orchestration (``flows``); this package, above
both, does, and only when ``discover`` or ``reprocess`` is called.
"""

from __future__ import annotations

from pipeline import PIPELINE_VERSION, __version__
from pipeline.api import IngestRun, UsageError, Validation, ingest, open_output, tables, validate

__all__ = ["PIPELINE_VERSION", "IngestRun", "UsageError", "Validation", "__version__", "discover", "ingest",
           "open_output", "reprocess", "tables", "validate"]


def discover(index_url: str, out: str = "output", raw: str = "raw", **options) -> dict:
    """Crawl a gazette listing and ingest its new issues (``flows.api.discover``)."""
    from flows.api import discover as run

    return run(index_url, out, raw, **options)


def reprocess(selection: str = "outdated", out: str = "output", raw: str = "raw", *, issue: str | None = None) -> dict:
    """Re-run the pipeline from the raw store (``flows.api.reprocess``)."""
    from flows.api import reprocess as run

    return run(selection, out, raw, issue=issue)
