"""Typed requests the service's use cases take; the rpc layer parses wire dicts into these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ee_retry.domain.model import JobRequirements
from ee_retry.domain.values import FieldCondition


@dataclass(frozen=True)
class RequirementsOverride:
    """Admin-set resources (ee2's job_requirements); None keeps the catalog's or original's value."""

    cpus: int | None = None
    memory_mb: int | None = None
    disk_gb: int | None = None
    client_group: str | None = None
    account_group: str | None = None  # run_job_concierge only: the user the job is billed to

    def apply(self, base: JobRequirements) -> JobRequirements:
        return JobRequirements(
            cpus=self.cpus if self.cpus is not None else base.cpus,
            memory_mb=self.memory_mb if self.memory_mb is not None else base.memory_mb,
            disk_gb=self.disk_gb if self.disk_gb is not None else base.disk_gb,
            client_group=self.client_group if self.client_group is not None else base.client_group,
            account_group=self.account_group if self.account_group is not None else base.account_group,
        )

    def to_doc(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class RunRequest:
    """One run_job (or one child of run_job_batch)."""

    method: str  # "Module.method"
    params: Any = None
    service_ver: str | None = None  # tag, commit, or None (release)
    app_id: str | None = None
    source_ws_objects: tuple[str, ...] = ()
    wsid: int | None = None
    parent_job_id: str | None = None
    job_requirements: RequirementsOverride | None = None
    narrative_cell_info: Mapping[str, Any] | None = None
    meta: Mapping[str, Any] | None = None
    as_admin: bool = False


@dataclass(frozen=True)
class RetryRequest:
    """retry_job / retry_jobs."""

    job_ids: tuple[object, ...]  # as received; each is checked per item
    as_admin: bool = False
    idempotency_key: str | None = None
    job_requirements: RequirementsOverride | None = None
    single: bool = False  # retry_job: one item, errors raise
    # Automatic retries: per-original resources (raised memory), and attempts owned by the original's
    # owner rather than by the caller (the policy).
    requirements_by_original: Mapping[str, RequirementsOverride] | None = None
    owner_keeps_attempts: bool = False

    def fingerprint(self) -> dict[str, Any]:
        """What makes two requests with one idempotency key 'the same params'."""
        doc: dict[str, Any] = {
            "job_ids": [str(j) for j in self.job_ids],
            "as_admin": self.as_admin,
            "job_requirements": self.job_requirements.to_doc() if self.job_requirements else None,
            "single": self.single,
        }
        if self.requirements_by_original:
            doc["requirements_by_original"] = {
                k: v.to_doc() for k, v in self.requirements_by_original.items()
            }
        return doc


@dataclass(frozen=True)
class DateRangeRequest:
    """check_jobs_date_range_for_user / _for_all."""

    start: float  # epoch seconds, inclusive
    end: float  # epoch seconds, exclusive
    user: str | None = None
    limit: int = 2_000
    offset: int = 0
    ascending: bool = True
    projection: tuple[str, ...] = ()
    as_admin: bool = False
    conditions: tuple[FieldCondition, ...] = ()  # ee2's `filter`, typed and AND-ed
