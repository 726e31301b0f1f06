"""Helpers for the HTCondor adapter tests: specs, submit params, and what the schedd sees."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import htcondor2

from ee_retry.adapters.htcondor import SubmitParams
from ee_retry.domain.ids import new_id
from ee_retry.domain.model import JobRequirements
from ee_retry.domain.values import SubmitSpec

FAKE_FACTORY = "ee_retry.testing.schedd:FakeSchedd"
RUNNER = "/usr/local/bin/ee-retry-runner"
SERVICE_URL = "https://ee.example.org/services/ee2/"
TOKEN = "TOKENABCDEFGHIJKLMNOPQRSTUVWXYZ12"


def make_spec(**overrides: Any) -> SubmitSpec:
    """A valid spec with every optional field set; override any of them."""
    values: dict[str, Any] = {
        "job_id": new_id(),
        "user": "alice",
        "method": "Demo.succeed",
        "service_ver": "0123456789abcdef0123456789abcdef01234567",
        "requirements": JobRequirements(cpus=2, memory_mb=2000, disk_gb=30, client_group="bigmem"),
        "app_id": "Demo/succeed",
        "wsid": 42,
        "parent_job_id": None,
        "batch_id": None,
        "params": [{"message": "hello"}],
        "token": TOKEN,
    }
    values.update(overrides)
    return SubmitSpec(**values)


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
