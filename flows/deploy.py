"""Serve ``discover_and_ingest`` on a cron schedule.

    prefect server start                                  # in one terminal (UI at http://127.0.0.1:4200)
    PREFECT_API_URL=http://127.0.0.1:4200/api \\
      python -m flows.deploy https://www.gz.gov.cn/gfxwj/szfgb/ --cron "0 6 * * *"

``flow.serve`` keeps running and starts a flow run at every cron tick, each in its own
process (which starts its own parse service when it has something to parse); runs, logs
and the summary / 目录 artifacts show in the Prefect UI.
"""

from __future__ import annotations

import argparse

from flows.pipeline_flows import discover_and_ingest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("index_url")
    parser.add_argument("--cron", default="0 6 * * *", help="schedule (default: daily at 06:00)")
    parser.add_argument("--out", default="output")
    parser.add_argument("--raw", default="raw")
    parser.add_argument("--name", default="gazette-discover")
    parser.add_argument("--allow-host", action="append", default=[], help="another host that may be fetched")
    parser.add_argument("--allow-private", action="store_true", help="allow loopback/private addresses (tests)")
    args = parser.parse_args(argv)
    parameters = {"index_url": args.index_url, "out": args.out, "raw": args.raw}
    if args.allow_host:
        parameters["allowed_hosts"] = args.allow_host
    if args.allow_private:
        parameters["allow_private"] = True
    discover_and_ingest.serve(name=args.name, cron=args.cron, parameters=parameters, tags=["gazette"])


if __name__ == "__main__":
    main()
