"""Serve ``discover_and_ingest`` on a schedule (a cron expression, or an interval in seconds).

    prefect server start                                  # in one terminal (UI at http://127.0.0.1:4200)
    PREFECT_API_URL=http://127.0.0.1:4200/api \\
      python -m flows.deploy https://www.gz.gov.cn/gfxwj/szfgb/ --cron "0 6 * * *"

The Prefect server's scheduler creates the deployment's next runs; ``flow.serve`` keeps
running, polls the server and starts each run when it is due, each in its own process
(which starts its own parse service when it has something to parse). Runs, logs and the
summary / 目录 artifacts show in the Prefect UI; stopping this process pauses the schedule.
"""

from __future__ import annotations

import argparse

from flows.pipeline_flows import discover_and_ingest

DEFAULT_CRON = "0 6 * * *"  # daily at 06:00 UTC (Prefect reads a cron without a time zone as UTC)


def positive_seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("the interval must be a positive number of seconds")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("index_url")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--cron", help=f"cron schedule, UTC (default: {DEFAULT_CRON!r}, daily at 06:00)")
    when.add_argument("--interval", type=positive_seconds, metavar="SECONDS", help="run every SECONDS instead")
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
    schedule = {"interval": args.interval} if args.interval else {"cron": args.cron or DEFAULT_CRON}
    discover_and_ingest.serve(name=args.name, parameters=parameters, tags=["gazette"], **schedule)


if __name__ == "__main__":
    main()
