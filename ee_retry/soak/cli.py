"""`scripts/soak` / `python -m ee_retry.soak` / `ee-retry-soak`: options, set-up and exit status."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ee_retry.ports import JobStore
from ee_retry.soak.run import Soak, SoakConfig, observer_store, render
from ee_retry.soak.service import ServiceProcess

if TYPE_CHECKING:
    from ee_retry.testing.secantus import SecantusServer

EXIT_VIOLATION = 1  # an invariant was violated
EXIT_BROKEN = 2  # bad options, or the soak itself could not run (the service would not start)

MONGO_DB = "ee2_soak"
SERVICE_ENV = {
    "EE_RETRY_POLL_INTERVAL_S": "0.2",  # job ends reach the records quickly, so the drain is short
    "EE_RETRY_LOCAL_MAX_PARALLEL": "4",
}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/soak",
        description="Run the real service under concurrent clients on loopback, SIGKILL and restart it at "
        "random, then drain and check the retry invariants. Exit 1 on any violation.",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="traffic duration (default 60)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
    parser.add_argument("--drain-seconds", type=float, default=60.0, help="longest wait for jobs to end")
    parser.add_argument(
        "--mongo",
        action="store_true",
        help="keep the jobs in MongoDB: a SecantusDB server the soak starts (and kills at random too)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (data, service log)")
    return parser


async def _soak(config: SoakConfig, mongo: bool) -> int:
    data_dir = config.work_dir / "data"
    database = _database(config.work_dir) if mongo else None
    env = dict(config.service_env)
    if database is not None:
        env |= {"EE_RETRY_MONGO_URI": database.start(), "EE_RETRY_MONGO_DB": MONGO_DB}
    service = ServiceProcess(data_dir, env)
    store = observer_store(data_dir, env.get("EE_RETRY_MONGO_URI"), MONGO_DB)
    records = ""
    try:
        service.start()
        await store.setup()
        result = await Soak(config, service, store, database).run()
        if result.violations.total:
            records = await stored_records(store, result.violations.examples.values())
    finally:
        service.stop()
        await store.close()
        if database is not None:
            database.stop()
    where = "MongoDB over the wire protocol (SecantusDB)" if mongo else "embedded store"
    header = f"soak: {where}, {config.seconds:g} s, {config.clients} clients, seed {config.seed}"
    print(render(result, header), flush=True)
    if result.violations.total:
        print(records, flush=True)
        _show_log(service.log, result.violations.examples.values())
        return EXIT_VIOLATION
    return 0


def _named_ids(examples: Iterable[str]) -> list[str]:
    return sorted(set(re.findall(r"\b[0-9a-f]{24}\b", " ".join(examples))))


async def stored_records(store: JobStore, examples: Iterable[str]) -> str:
    """The full stored records (as they are after the final checks) of every job and operation a
    violation's example names, and of each such job's operation, for the first look."""
    ids = _named_ids(examples)
    try:
        jobs = await store.get_jobs(ids)
        op_ids = sorted(set(ids) - set(jobs) | {j.operation_id for j in jobs.values() if j.operation_id})
        ops = [op for op in [await store.get_operation(i) for i in op_ids] if op is not None]
    except Exception as exc:  # the records are a diagnosis; their absence must not hide the table
        return f"\nStored records not read: {exc!r}"
    lines = ["\nStored records named by the violations (after the final restart):"]
    lines += [f"job {j.id}: {json.dumps(j.to_doc(), default=str, sort_keys=True)}" for j in jobs.values()]
    lines += [f"operation {op.id}: {json.dumps(op.to_doc(), default=str, sort_keys=True)}" for op in ops]
    return "\n".join(lines)


def _show_log(log: Path, examples: Iterable[str], most: int = 40) -> None:
    """The service log's lines that name a job of a violation's example, for the first look."""
    ids = _named_ids(examples)
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if any(i in ln for i in ids)]
    print(f"\nService log lines naming {', '.join(sorted(ids)) or 'no job'} (of {log}):", flush=True)
    print("\n".join(lines[-most:]), flush=True)


def _database(work_dir: Path) -> SecantusServer:
    from ee_retry.testing.secantus import SecantusServer

    return SecantusServer(work_dir / "mongo")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.seconds <= 0 or args.clients < 1 or args.drain_seconds < 0:
        print("soak: --seconds and --clients must be positive", file=sys.stderr)
        return EXIT_BROKEN
    seed = args.seed if args.seed is not None else int(time.time())
    work_dir = Path(tempfile.mkdtemp(prefix="ee-retry-soak-"))
    config = SoakConfig(args.seconds, args.clients, seed, args.drain_seconds, work_dir, dict(SERVICE_ENV))
    code = EXIT_BROKEN
    try:
        code = asyncio.run(_soak(config, args.mongo))
        return code
    except RuntimeError as exc:
        print(f"soak: could not run: {exc}", file=sys.stderr)
        return EXIT_BROKEN
    finally:
        if args.keep or code != 0:
            print(f"soak: work folder kept at {work_dir}", flush=True)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
