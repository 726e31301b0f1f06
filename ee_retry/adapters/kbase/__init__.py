"""The real KBase identity, permission and catalog clients, in one import.

Each client owns one httpx2 connection pool (close it with `close()`), accepts `transport=` so
tests can route it to the fake services in `ee_retry.testing.kbase`, and caches what it learns.
"""

from __future__ import annotations

from ee_retry.adapters.kbase.auth import KBaseAuth
from ee_retry.adapters.kbase.catalog import KBaseCatalog
from ee_retry.adapters.kbase.workspace import KBaseWorkspace

__all__ = ["KBaseAuth", "KBaseCatalog", "KBaseWorkspace"]
