"""What one reaper run did: an action per repaired job, operation or proc, and how the run ended.

Exit codes, for cron and monitoring: 0 every action succeeded (or there was nothing to do), 1 at
least one action failed, 3 another reaper holds the lease (this run did nothing).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

EXIT_OK = 0
EXIT_ACTION_FAILED = 1
EXIT_LEASE_HELD = 3


@dataclass(frozen=True)
class ReapAction:
    """One thing the reaper did (or, in a dry run, would do) to one job, operation or proc."""

    action: str  # e.g. "cancel-queued"; a dry run reports it as "would-cancel-queued"
    target: str  # a job id, an operation id, or a scheduler id
    detail: str
    ok: bool = True

    def failed(self, why: str) -> ReapAction:
        """The same action, marked failed with the reason."""
        return replace(self, ok=False, detail=f"{self.detail}; FAILED: {why}")

    def line(self) -> str:
        return f"{self.action} {self.target} {self.detail}"

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "target": self.target, "detail": self.detail, "ok": self.ok}


@dataclass
class ReapReport:
    """Everything one run reports; `lines()` for people, `to_json()` for tools."""

    dry_run: bool
    lease_held_elsewhere: bool = False
    actions: list[ReapAction] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # rules skipped, and why

    @property
    def failures(self) -> int:
        return sum(1 for a in self.actions if not a.ok)

    @property
    def exit_code(self) -> int:
        if self.lease_held_elsewhere:
            return EXIT_LEASE_HELD
        return EXIT_ACTION_FAILED if self.failures else EXIT_OK

    def summary(self) -> str:
        if self.lease_held_elsewhere:
            return "reaper: another reaper holds the lease; nothing done"
        by_action = Counter(a.action for a in self.actions)
        parts = ", ".join(f"{name} {n}" for name, n in sorted(by_action.items()))
        count = len(self.actions)
        what = f"{count} action{'s' if count != 1 else ''} ({parts})" if count else "nothing to do"
        failed = f", {self.failures} failed" if self.failures else ""
        mode = " [dry run: nothing was changed]" if self.dry_run else ""
        return f"reaper: {what}{failed}{mode}"

    def lines(self) -> list[str]:
        """One line per action, then the notes, then the summary."""
        return [a.line() for a in self.actions] + [f"note: {n}" for n in self.notes] + [self.summary()]

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "lease_held_elsewhere": self.lease_held_elsewhere,
            "actions": [a.to_json() for a in self.actions],
            "notes": list(self.notes),
            "failed": self.failures,
            "summary": self.summary(),
            "exit_code": self.exit_code,
        }
