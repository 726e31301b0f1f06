"""`python -m ee_retry` / `ee-retry`: serve the JSON-RPC service with settings from the environment."""

from __future__ import annotations

import logging
import sys
from typing import Any

import uvicorn

from ee_retry.app import create_app
from ee_retry.settings import Settings
from ee_retry.wiring import build_deps


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves the app; the HTTP benchmark serves its baseline app with the same options."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "access_log": settings.access_log,
    }


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        deps = build_deps(settings)
        app = create_app(deps)
    except ValueError as exc:
        print(f"ee-retry: configuration error: {exc}", file=sys.stderr)
        return 2
    store = "MongoDB" if settings.mongo_uri else f"embedded store in {settings.data_dir.resolve()}"
    where = f"http://{settings.host}:{settings.port}/"
    print(f"ee-retry listening on {where} ({store}, {settings.scheduler} scheduler)", flush=True)
    uvicorn.run(app, **uvicorn_options(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
