"""`ee-retry-reaper`: one reaper run against the store and scheduler the environment configures."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence

from ee_retry import constants
from ee_retry.service.deps import Deps, close_clients
from ee_retry.service.repair.reaper import ReapOptions, reap
from ee_retry.service.repair.reaper_report import ReapReport
from ee_retry.settings import Settings
from ee_retry.wiring import build_deps

EXIT_CONFIG = 2  # bad options or environment (argparse uses 2 as well)

DESCRIPTION = """\
Repair what crashes, lost scheduler procs and abandoned jobs leave behind, in one pass:
finish or roll back incomplete submissions (reconcile), cancel 'created' jobs that no scheduler
proc carries, cancel 'queued' jobs that waited too long, mark 'running' jobs the scheduler lost as
'error', remove scheduler procs whose job has no record, and set every unfinished batch container
from its children. A lease in the store keeps two reapers from acting at once. Configured by the
same EE_RETRY_* environment as the service.
"""

EPILOG = """\
With the local executor (EE_RETRY_SCHEDULER unset or 'local') the jobs' processes live inside the
service process, which this command cannot see: here only the 'queued' and batch container rules
run, and the service runs every rule itself every EE_RETRY_REAPER_INTERVAL_S seconds (600 by
default) under the same lease.
With HTCondor (EE_RETRY_SCHEDULER=condor) every rule runs here.

exit codes: 0 done (or nothing to do), 1 an action failed, 2 bad options or configuration,
3 another reaper holds the lease (nothing done).

cron, every 10 minutes:
  */10 * * * * /srv/ee-retry/scripts/reaper >> /var/log/ee-retry-reaper.log 2>&1
"""


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ee-retry-reaper",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="plan only: print what would be done, change nothing"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    ages = (
        (
            "--created-max-age",
            constants.REAPER_CREATED_MAX_AGE_S,
            "cancel 'created' jobs older than this that "
            "no scheduler proc carries (default %(default)s = 1 hour)",
        ),
        (
            "--queued-max-age",
            constants.REAPER_QUEUED_MAX_AGE_S,
            "cancel 'queued' jobs waiting longer than this (default %(default)s = 14 days)",
        ),
        (
            "--grace",
            constants.SUBMIT_GRACE_S,
            "leave submissions younger than this to the request making them (default %(default)s)",
        ),
    )
    for flag, default, text in ages:
        parser.add_argument(flag, type=_seconds, default=default, metavar="SECONDS", help=text)
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a number of seconds may not be negative")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    deps = _deps()
    options = ReapOptions(
        dry_run=args.dry_run,
        created_max_age_s=args.created_max_age,
        queued_max_age_s=args.queued_max_age,
        grace_s=args.grace,
        scheduler_visible=deps.settings.scheduler != "local",
    )
    report = asyncio.run(_run(deps, options))
    print(json.dumps(report.to_json(), sort_keys=True) if args.json else "\n".join(report.lines()))
    return report.exit_code


def _deps() -> Deps:
    """The ports the EE_RETRY_* environment configures; a bad value ends the command with exit 2."""
    try:
        return build_deps(Settings.from_env())
    except ValueError as exc:
        print(f"ee-retry-reaper: configuration error: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)


async def _run(deps: Deps, options: ReapOptions) -> ReapReport:
    """Open the store (and the scheduler when its procs are visible), reap once, close everything."""
    await deps.store.setup()
    try:
        if options.scheduler_visible:
            await deps.scheduler.start()
        try:
            return await reap(deps, options)
        finally:
            if options.scheduler_visible:
                await deps.scheduler.close()
    finally:
        await close_clients(deps)
        await deps.store.close()


if __name__ == "__main__":
    sys.exit(main())
