"""``gazette discover`` and ``gazette reprocess``: run the real Prefect flows.

Without ``PREFECT_API_URL`` set, Prefect starts a temporary local server for the run
(embedded mode); with it set, runs show in that server's UI.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def discover(args: argparse.Namespace) -> int:
    from flows.pipeline_flows import discover_and_ingest
    from pipeline.isolation import start_parse_service

    start_parse_service(wait=False)  # starts while Prefect's temporary server does

    result = discover_and_ingest(
        args.index_url, out=args.out, raw=args.raw, allowed_hosts=args.allow_host,
        allow_private=args.allow_private, max_pages=args.max_pages,
    )
    print(result["summary"] + f"; {result['skipped']} unchanged")
    return 1 if result["errors"] else 0


def reprocess(args: argparse.Namespace) -> int:
    from flows.pipeline_flows import reprocess as reprocess_flow
    from pipeline.isolation import start_parse_service

    start_parse_service(wait=False)

    selection = "issue" if args.issue else ("all" if args.all else "outdated")
    result = reprocess_flow(selection, out=args.out, raw=args.raw, issue=args.issue)
    print(result["summary"])
    return 1 if result["errors"] else 0
