"""The flows as Python calls, what ``gazette discover`` and ``gazette reprocess`` run.

    from flows.api import discover, reprocess
    discover("https://www.gz.gov.cn/gfxwj/szfgb/", out="output")   # = gazette discover URL --out output
    reprocess("outdated", out="output")                           # = gazette reprocess --outdated

Without ``PREFECT_API_URL`` set, Prefect starts a temporary local server for the run
(embedded mode); with it set, runs show in that server's UI. The temporary server is
started here first, waited for and tried again once, so that a slow start on a busy machine
is not the run's failure (``TemporaryServerDidNotStart`` when it really does not start).
"""

from __future__ import annotations

import os

from flows.errors import TemporaryServerDidNotStart

# Set before Prefect is imported: its settings are read once, at import.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The temporary server answers only after it has migrated its SQLite database: on a fresh
# PREFECT_HOME on 2 cores that took 15-19 s with no other work of ours and 19-44 s with both
# cores busy, against Prefect's default wait of 20 s. An operator's own setting wins.
STARTUP_TIMEOUT_S = 120
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(STARTUP_TIMEOUT_S))
STARTUP_TRIES = 2  # a start that timed out is tried once more before the run gives up


def _start_temporary_server() -> None:
    """Start Prefect's temporary server before the flow does, so a slow start is waited for,
    retried once, and reported in one line instead of a traceback from inside the flow."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_ENABLED,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    )

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return  # a running server is used, or Prefect reports the missing URL itself
    timeout = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
    for _ in range(STARTUP_TRIES):
        # the same instance the flow's client asks for (one per process): once it runs,
        # Prefect uses it instead of starting another
        server = SubprocessASGIServer()
        try:
            server.start(timeout=timeout)
            return
        except RuntimeError:
            server.stop()  # a half-started server would hold its port and database
    raise TemporaryServerDidNotStart(
        f"the temporary Prefect server did not start within {timeout} s ({STARTUP_TRIES} tries; busy machine?); "
        "set PREFECT_API_URL to a running server, or PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher, "
        "or retry"
    )




def _ready() -> None:
    from pipeline.isolation import start_parse_service

    start_parse_service(wait=False)  # starts while Prefect's temporary server does
    _start_temporary_server()


def discover(index_url: str, out: str = "output", raw: str = "raw", *, allowed_hosts: list[str] | None = None,
             allow_private: bool = False, max_pages: int = 20) -> dict:
    """Crawl a gazette listing, fetch the issues it has not seen, ingest them (the
    ``discover_and_ingest`` flow); returns the flow's summary (documents, errors, skipped)."""
    _ready()
    from flows.pipeline_flows import discover_and_ingest

    return discover_and_ingest(index_url, out=out, raw=raw, allowed_hosts=allowed_hosts or [],
                               allow_private=allow_private, max_pages=max_pages)


def reprocess(selection: str = "outdated", out: str = "output", raw: str = "raw", *, issue: str | None = None) -> dict:
    """Re-run the pipeline from the raw store: ``outdated`` documents (an older
    ``pipeline_version``), ``all``, or one ``issue`` (with ``issue="2021-29"``)."""
    _ready()
    from flows.pipeline_flows import reprocess as reprocess_flow

    return reprocess_flow(selection, out=out, raw=raw, issue=issue)
