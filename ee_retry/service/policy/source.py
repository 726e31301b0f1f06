"""The active policy: read from EE_RETRY_POLICY_FILE at start, read again whenever the file changes.

An edit that does not validate (or a file that cannot be read) keeps the last good policy running and
is logged with the reason; the same bad content is not logged again on every check.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from ee_retry.domain.policy.model import Policy
from ee_retry.domain.policy.parse import PolicyError, parse_policy_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    policy: Policy
    loaded_at: float  # epoch seconds
    digest: str  # sha256 of the file content it came from


class PolicySource:
    """Holds the last good policy of one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current: Loaded | None = None
        self.last_error: str | None = None  # why the file's present content is not in use
        self._seen: tuple[float, int] | None = None  # (mtime, size) last read
        self._bad_digest: str | None = None

    def load_first(self, now: float) -> Policy:
        """Read the file at start-up; a file that does not validate is a configuration error."""
        text = self.path.read_text(encoding="utf-8")
        policy = parse_policy_text(text)  # PolicyError propagates: the service does not start
        self.current = Loaded(policy, now, _digest(text))
        self._seen = self._stat()
        return policy

    def refresh(self, now: float) -> Policy | None:
        """The policy in force now, re-reading the file when its mtime or size changed."""
        stat = self._stat()
        if stat is None or stat == self._seen:
            return self.current.policy if self.current else None
        self._seen = stat
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self._keep(f"cannot read the file ({type(exc).__name__})", None)
            return self.current.policy if self.current else None
        digest = _digest(text)
        if self.current is not None and digest == self.current.digest:
            return self.current.policy
        try:
            policy = parse_policy_text(text)
        except PolicyError as exc:
            self._keep("; ".join(exc.problems), digest)
            return self.current.policy if self.current else None
        self.current = Loaded(policy, now, digest)
        self.last_error = self._bad_digest = None
        log.info("retry policy %s reloaded: %d rules", self.path.name, len(policy.rules))
        return policy

    def _keep(self, why: str, digest: str | None) -> None:
        self.last_error = why
        if digest is not None and digest == self._bad_digest:
            return
        self._bad_digest = digest
        log.warning(
            "retry policy %s not reloaded, the last good policy stays in force: %s", self.path.name, why
        )

    def _stat(self) -> tuple[float, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return (info.st_mtime, info.st_size)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
