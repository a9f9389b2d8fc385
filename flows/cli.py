"""``gazette discover`` and ``gazette reprocess``: run the real Prefect flows.

Without ``PREFECT_API_URL`` set, Prefect starts a temporary local server for the run
(embedded mode); with it set, runs show in that server's UI.
"""

from __future__ import annotations

import argparse
import os
import sys

# Set before Prefect is imported: its settings are read once, at import.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The temporary server answers only after it has migrated its SQLite database: on a fresh
# PREFECT_HOME on 2 cores that took 15-19 s with no other work of ours and 19-44 s with both
# cores busy, against Prefect's default wait of 20 s. An operator's own setting wins.
STARTUP_TIMEOUT_S = 120
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(STARTUP_TIMEOUT_S))
STARTUP_TRIES = 2  # a start that timed out is tried once more before the run gives up


class TemporaryServerDidNotStart(RuntimeError):
    pass


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


def _embedded(run):
    """Run a flow command; a temporary server that does not start is one line on stderr, exit 2."""

    def command(args: argparse.Namespace) -> int:
        from pipeline.isolation import start_parse_service

        start_parse_service(wait=False)  # starts while Prefect's temporary server does
        try:
            _start_temporary_server()
        except TemporaryServerDidNotStart as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return run(args)

    command.__doc__ = run.__doc__
    return command


@_embedded
def discover(args: argparse.Namespace) -> int:
    from flows.pipeline_flows import discover_and_ingest

    result = discover_and_ingest(
        args.index_url, out=args.out, raw=args.raw, allowed_hosts=args.allow_host,
        allow_private=args.allow_private, max_pages=args.max_pages,
    )
    print(result["summary"] + f"; {result['skipped']} unchanged")
    return 1 if result["errors"] else 0


@_embedded
def reprocess(args: argparse.Namespace) -> int:
    from flows.pipeline_flows import reprocess as reprocess_flow

    selection = "issue" if args.issue else ("all" if args.all else "outdated")
    result = reprocess_flow(selection, out=args.out, raw=args.raw, issue=args.issue)
    print(result["summary"])
    return 1 if result["errors"] else 0
