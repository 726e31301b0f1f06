"""Callers for the pure-rule tests (jobs and procs come from tests.builders): no store, no scheduler."""

from __future__ import annotations

from ee_retry.domain.values import User

ALICE = User("alice")
BOB = User("bob")
ADMIN = User("root", frozenset({"EE2_ADMIN"}))
