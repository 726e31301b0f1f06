"""The REST API's answer bodies, built from the service's values (times in epoch ms, as on the wire)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ee_retry.rpc.views import candidate, job_state, log_page, ms, wire_items
from ee_retry.service import browse


def _counts(counts: dict[Any, int]) -> dict[str, int]:
    return {status.value: n for status, n in counts.items()}


def job_detail(detail: browse.JobDetail) -> dict[str, Any]:
    body = job_state(detail.job)
    body["lineage"] = [
        {
            "job_id": e.job.id,
            "attempt": e.attempt,
            "status": e.job.status.value,
            "created": ms(e.job.created),
            "finished": ms(e.job.finished),
            "retry_of": e.job.retry_parent,
        }
        for e in detail.lineage.entries
    ]
    batch = detail.batch
    body["batch"] = (
        None if batch is None else {"container_id": batch.container_id, "counts": _counts(batch.counts)}
    )
    body["logs"] = log_page(detail.logs.lines, detail.logs.first, detail.logs.total)
    refusal = detail.retry_refusal
    body["retry"] = {
        "allowed": refusal is None,
        "reason": None if refusal is None else refusal.message,
        "code": None if refusal is None else refusal.code,
    }
    return body


def refusals(groups: Sequence[browse.Refusals]) -> list[dict[str, Any]]:
    return [
        {
            "reason": g.reason,
            "code": g.code,
            "count": len(g.items),
            "jobs": [{"job_id": job_id, "detail": message} for job_id, message in g.items],
        }
        for g in groups
    ]


def preview(found: browse.FailedPreview) -> dict[str, Any]:
    """A dry run: how many would be retried, which, and the refusals grouped by reason."""
    return {
        "dry_run": True,
        "would_retry": len(found.would_retry),
        "refused": sum(len(g.items) for g in found.refusals),
        "total": len(found.candidates),
        "jobs": [candidate(c) for c in found.candidates],
        "refusals": refusals(found.refusals),
    }


def retried(answer: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A real run: counts, the per-item results as retry_jobs gives them, and the refusals grouped."""
    errors = browse.answer_errors(answer)
    return {
        "dry_run": False,
        "retried": len(answer) - len(errors),
        "refused": len(errors),
        "total": len(answer),
        "results": wire_items(list(answer)),
        "refusals": refusals(browse.group_refusals(errors)),
    }
