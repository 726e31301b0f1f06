"""Fixtures and helpers for the HTCondor adapter tests: a fake schedd on disk and a scheduler whose workers
use it; specs, submit params, and what the schedd sees."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import htcondor2
import pytest

from ee_retry.adapters.htcondor import HTCondorScheduler, SubmitParams
from ee_retry.testing.schedd import FakeSchedd


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


FAKE_FACTORY = "ee_retry.testing.schedd:FakeSchedd"
RUNNER = "/usr/local/bin/ee-retry-runner"
SERVICE_URL = "https://ee.example.org/services/ee2/"


def params(**overrides: Any) -> SubmitParams:
    values: dict[str, Any] = {"runner": RUNNER, "service_url": SERVICE_URL, "log_dir": "/var/log/ee-retry"}
    values.update(overrides)
    return SubmitParams(**values)


def schedd_view(description: Mapping[str, str], rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each proc's submit commands, fully expanded, as the schedd gets them from `Schedd.submit`.

    The description and rows are serialised into submit-language text exactly as the bindings do
    (commands, then `QUEUE <keys> FROM (` with unit-separated columns), parsed back by the real
    `htcondor2.Submit`, and each row's macros are expanded by the real expander.
    """
    text = "".join(f"{k} = {v}\n" for k, v in htcondor2.Submit(dict(description)).items()) + "\n"
    keys = list(rows[0])
    lines = ["\x1f".join(row[k] for k in keys) for row in rows]
    parsed = htcondor2.Submit(text + f"QUEUE {','.join(keys)} FROM (\n" + "\n".join(lines) + "\n)\n")
    commands = dict(parsed.items())
    procs = []
    for proc, row in enumerate(parsed.itemdata()):
        sub = htcondor2.Submit(commands)
        for key, value in row.items():
            sub[key] = value
        sub["Cluster"], sub["Process"] = "7", str(proc)
        procs.append({key: sub.expand(key) for key in commands})
    return procs
