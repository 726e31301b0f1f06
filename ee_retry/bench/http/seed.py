"""The records the measured calls read: one finished job with log lines, and a batch of finished jobs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx2

TOKEN = "alice-token"  # noqa: S105  the demo user who may write workspace 1 (ee_retry/demo/tokens.json)
LOG_LINES = 100  # lines added to the job whose logs are read
BATCH_SIZE = 100  # jobs read by check_jobs
FINISH_TIMEOUT_S = 180.0  # the batch runs as local processes, four at a time


@dataclass(frozen=True)
class Seeded:
    job_id: str
    batch_ids: list[str]


def call(url: str, method: str, params: list[Any]) -> Any:
    body = {"version": "1.1", "method": f"execution_engine2.{method}", "params": params, "id": "seed"}
    response = httpx2.post(url, json=body, headers={"Authorization": TOKEN}, timeout=30.0)
    answer = response.json()
    if response.status_code != 200:
        raise RuntimeError(f"{method} failed while seeding: {answer.get('error')}")
    return answer["result"][0]


def _wait_finished(url: str, ids: list[str]) -> None:
    deadline = time.monotonic() + FINISH_TIMEOUT_S
    while time.monotonic() < deadline:
        states = call(url, "check_jobs", [{"job_ids": ids}])["job_states"]
        if all(s["status"] in ("completed", "error", "terminated") for s in states):
            return
        time.sleep(0.5)
    raise RuntimeError(f"seeded jobs did not finish within {FINISH_TIMEOUT_S:g} s")


def seed(url: str) -> Seeded:
    job_id = call(url, "run_job", [{"method": "Demo.succeed", "params": [{"x": 1}], "wsid": 1}])
    lines = [{"line": f"log line {i} of the benchmark job", "is_error": False} for i in range(LOG_LINES)]
    call(url, "add_job_logs", [{"job_id": job_id}, lines])
    jobs = [{"method": "Demo.succeed", "params": [{"i": i}]} for i in range(BATCH_SIZE)]
    batch = call(url, "run_job_batch", [jobs, {"wsid": 1}])
    ids: list[str] = batch["child_job_ids"]
    _wait_finished(url, [job_id, *ids])
    return Seeded(job_id, ids)
