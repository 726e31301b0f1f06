"""`python -m ee_retry` / `ee-retry`: serve the JSON-RPC service with settings from the environment."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from ee_retry import memory
from ee_retry.adapters.clock import SystemClock
from ee_retry.adapters.local.folder_lock import FolderLock, lock_data_folder
from ee_retry.app import create_app
from ee_retry.errors import EERetryError
from ee_retry.http_limits import RequestLimits, bounded_protocol
from ee_retry.service.repair.instance import InstanceClaim, InstanceClaimed
from ee_retry.settings import Settings
from ee_retry.wiring import build_deps, build_store


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves the app; the HTTP benchmark serves its baseline app with the same options.
    The header timeout and the connection cap live in the protocol class (ee_retry.http_limits)."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "access_log": settings.access_log,
        "http": bounded_protocol(AutoHTTPProtocol, settings.http),
        "timeout_keep_alive": settings.http.keep_alive_s,
    }


async def take_instance_claim(settings: Settings) -> None:
    """Take the store's local-executor claim before anything else touches the store; raises
    InstanceClaimed while another live instance holds it. The app takes it again (as the same holder)
    before its recovery, and keeps it."""
    store = build_store(settings)
    try:
        await store.setup()
        await InstanceClaim(store, settings.data_dir, SystemClock().now).take()
    finally:
        await store.close()


def claim_instance(settings: Settings) -> tuple[FolderLock | None, str | None]:
    """The data folder's lock, held for the process's life, and the store's claim with the local
    executor; or why this instance may not start."""
    lock = lock_data_folder(settings.data_dir)
    if lock is None:
        folder = settings.data_dir.resolve()
        return None, (
            f"another ee-retry instance is running with the data folder {folder}; stop it first, or "
            "give this one its own EE_RETRY_DATA_DIR"
        )
    if settings.scheduler == "local":
        try:
            asyncio.run(take_instance_claim(settings))
        except InstanceClaimed as exc:
            lock.release()
            return None, str(exc)
        except EERetryError as exc:
            lock.release()
            return None, f"the job store did not answer: {exc.message}"
    return lock, None


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"ee-retry: configuration error: {exc}", file=sys.stderr)
        return 2
    lock, refused = claim_instance(settings)
    if lock is None:
        print(f"ee-retry: not starting: {refused}", file=sys.stderr)
        return 3
    try:
        deps = build_deps(settings)
        app = create_app(deps)
    except ValueError as exc:
        print(f"ee-retry: configuration error: {exc}", file=sys.stderr)
        return 2
    store = "MongoDB" if settings.mongo_uri else f"embedded store in {settings.data_dir.resolve()}"
    where = f"http://{settings.host}:{settings.port}/"
    print(f"ee-retry listening on {where} ({store}, {settings.scheduler} scheduler)", flush=True)
    print(f"console: open {where}ui/ in a browser and sign in with a token", flush=True)
    memory.keep_large_blocks_returnable()
    uvicorn.run(RequestLimits(app, settings.http), **uvicorn_options(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
