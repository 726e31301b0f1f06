"""The soak's clients: concurrent loops of ee2 calls as the demo user, and the tally of their answers."""

from __future__ import annotations

import asyncio
import json
import random
import zlib
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

TOKEN = "alice-token"  # noqa: S105  the demo user who may write workspace 1 (ee_retry/demo/tokens.json)
WSID = 1
KNOWN_JOBS_KEPT = 400  # the clients pick targets among the most recent jobs they heard of
THINK_S = (0.05, 0.25)  # each client waits this long (uniform) between calls
DOWN_PAUSE_S = 0.2  # after a call got no answer (service down), wait this long

JOB_METHODS: tuple[tuple[str, list[dict[str, Any]]], ...] = (
    ("Demo.fail", [{}]),
    ("Demo.succeed", [{"x": 1}]),
    ("Demo.sleep", [{"seconds": 0.5}]),
)


@dataclass
class Tally:
    """What the clients saw: answers by method and outcome, bad 5xx answers, ids and keys."""

    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    bad_5xx: list[str] = field(default_factory=list)
    known: deque[str] = field(default_factory=lambda: deque(maxlen=KNOWN_JOBS_KEPT))
    keyed: dict[str, set[str]] = field(default_factory=dict)  # idempotency key -> attempts it answered

    def pick(self, rng: random.Random, n: int = 1) -> list[str]:
        pool = list(dict.fromkeys(self.known))  # a replayed answer names a job twice
        return rng.sample(pool, min(n, len(pool))) if pool else []


def outcome(status: int, body: Any) -> str:
    """'ok', 'error <code>' (a JSON-RPC error) or 'http <status>' (anything else)."""
    if status == 200:
        return "ok"
    error = body.get("error") if isinstance(body, dict) else None
    if status == 500 and isinstance(error, dict) and isinstance(error.get("code"), int):
        return f"error {error['code']}"
    return f"http {status}"


class Client:
    """One client loop; every call is recorded in the shared Tally."""

    def __init__(self, http: httpx2.AsyncClient, url: str, tally: Tally, rng: random.Random) -> None:
        self.http, self.url, self.tally, self.rng = http, url, tally, rng
        self.actions: list[tuple[Callable[[], Awaitable[None]], int]] = [
            (self.check_job, 25),
            (self.check_jobs, 10),
            (self.run_job, 15),
            (self.run_job_batch, 5),
            (self.retry_job, 15),
            (self.double_click, 5),
            (self.retry_jobs, 8),
            (self.cancel_job, 7),
        ]

    async def call(self, method: str, params: list[Any], label: str | None = None) -> Any:
        """POST one call; returns the result, or None when it failed (the failure is tallied)."""
        body = {"version": "1.1", "method": f"execution_engine2.{method}", "params": params, "id": "s"}
        name = label or method
        try:
            response = await self.http.post(
                self.url, content=json.dumps(body), headers={"Authorization": TOKEN}
            )
        except httpx2.TransportError:
            self.tally.outcomes[(name, "no answer")] += 1
            await asyncio.sleep(DOWN_PAUSE_S)
            return None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        result = outcome(response.status_code, answer)
        self.tally.outcomes[(name, result)] += 1
        if response.status_code >= 500 and result.startswith("http"):
            self.tally.bad_5xx.append(f"{method}: HTTP {response.status_code} {response.text[:200]!r}")
        return answer["result"][0] if result == "ok" else None

    async def loop(self, stop: asyncio.Event) -> None:
        actions, weights = zip(*self.actions, strict=True)
        while not stop.is_set():
            await self.rng.choices(actions, weights)[0]()
            await asyncio.sleep(self.rng.uniform(*THINK_S))

    def _key(self, *parts: str) -> str | None:
        """Half the calls carry a key; each target has two keys, so keys are replayed often."""
        if self.rng.random() < 0.5:
            return None
        return f"soak-{zlib.crc32('-'.join(parts).encode()):08x}-{self.rng.randrange(2)}"

    def _remember(self, key: str | None, answer: str) -> None:
        if key is not None:
            self.tally.keyed.setdefault(key, set()).add(answer)

    async def check_job(self) -> None:
        for job_id in self.tally.pick(self.rng):
            await self.call("check_job", [{"job_id": job_id}])

    async def check_jobs(self) -> None:
        ids = self.tally.pick(self.rng, 20)
        if ids:
            await self.call("check_jobs", [{"job_ids": ids}])

    async def run_job(self) -> None:
        method, params = self.rng.choice(JOB_METHODS)
        job_id = await self.call("run_job", [{"method": method, "params": params, "wsid": WSID}])
        if isinstance(job_id, str):
            self.tally.known.append(job_id)

    async def run_job_batch(self) -> None:
        jobs = [
            {"method": m, "params": p} for m, p in self.rng.choices(JOB_METHODS, k=self.rng.randint(2, 4))
        ]
        answer = await self.call("run_job_batch", [jobs, {"wsid": WSID}])
        if isinstance(answer, dict):
            self.tally.known.extend(answer.get("child_job_ids", []))

    async def retry_job(self) -> None:
        for job_id in self.tally.pick(self.rng):
            await self._retry(job_id, self._key(job_id), "retry_job")

    async def double_click(self) -> None:
        """Two retry_job calls of one job at once, with one key or with none."""
        for job_id in self.tally.pick(self.rng):
            key = self._key(job_id)
            label = "retry_job (double click)"
            await asyncio.gather(self._retry(job_id, key, label), self._retry(job_id, key, label))

    async def _retry(self, job_id: str, key: str | None, label: str) -> None:
        params = {"job_id": job_id} | ({"idempotency_key": key} if key else {})
        answer = await self.call("retry_job", [params], label)
        if isinstance(answer, dict) and isinstance(answer.get("retry_id"), str):
            self.tally.known.append(answer["retry_id"])
            self._remember(key, answer["retry_id"])

    async def retry_jobs(self) -> None:
        ids = self.tally.pick(self.rng, self.rng.randint(2, 5))
        if not ids:
            return
        key = self._key(*ids)
        params = {"job_ids": ids} | ({"idempotency_key": key} if key else {})
        answer = await self.call("retry_jobs", [params])
        if isinstance(answer, list):
            new = [item["retry_id"] for item in answer if isinstance(item, dict) and "retry_id" in item]
            self.tally.known.extend(new)
            self._remember(key, ",".join(new))

    async def cancel_job(self) -> None:
        for job_id in self.tally.pick(self.rng):
            await self.call("cancel_job", [{"job_id": job_id}])
