"""Fixtures for the HTCondor adapter tests: a fake schedd on disk and a scheduler whose workers use it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ee_retry.adapters.htcondor import HTCondorScheduler
from ee_retry.testing.schedd import FakeSchedd
from tests.adapters.htcondor.condor_helpers import FAKE_FACTORY, RUNNER, SERVICE_URL


@pytest.fixture
def schedd_dir(tmp_path: Path) -> Path:
    return tmp_path / "schedd"


@pytest.fixture
def fake_schedd(schedd_dir: Path) -> FakeSchedd:
    """The fake schedd as the test process sees it (the workers open the same state)."""
    return FakeSchedd(state_dir=schedd_dir)


@pytest.fixture
async def scheduler(schedd_dir: Path) -> AsyncIterator[HTCondorScheduler]:
    """An HTCondorScheduler whose workers talk to the fake schedd; a short timeout keeps hangs quick."""
    made = HTCondorScheduler(
        FAKE_FACTORY,
        runner=RUNNER,
        service_url=SERVICE_URL,
        log_dir=str(schedd_dir / "logs"),
        factory_kwargs={"state_dir": str(schedd_dir)},
        timeout_s=2.0,
    )
    await made.start()
    try:
        yield made
    finally:
        await made.close()
