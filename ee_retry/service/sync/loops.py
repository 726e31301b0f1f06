"""Background passes of the service (status poller, in-service reaper): one step, then a pause, forever."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ee_retry.errors import EERetryError

log = logging.getLogger(__name__)


async def every(interval_s: float, step: Callable[[], Awaitable[object]], what: str) -> None:
    """Run `step` every `interval_s` seconds until cancelled; a failed step is logged, not fatal."""
    while True:
        try:
            await step()
        except EERetryError as exc:
            log.warning("%s failed: %s", what, exc.message)
        except Exception:
            log.exception("%s failed", what)
        await asyncio.sleep(interval_s)
