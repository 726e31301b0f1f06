"""Workspace permissions from KBase's Workspace service, cached per user.

`get_permissions_mass` answers for named workspaces, all uncached workspaces of one request in one
call. A workspace that is deleted or does not exist makes the Workspace fail the whole call; the
client then records no access for the workspace the error names and asks again for the rest, so one
deleted workspace does not hide the others. `list_workspace_ids` lists the workspaces the caller may
write (the id-only form of `list_workspace_info`, which the Workspace answers faster).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Unpack

from ee_retry import constants
from ee_retry.adapters.kbase.http import ClientOptions, KBaseClient, RemoteError, unavailable
from ee_retry.adapters.kbase.ttl_cache import TTLCache
from ee_retry.adapters.kbase.values import best_permission
from ee_retry.domain.values import Permission, User
from ee_retry.ports import Workspace

_SERVICE = "workspace"
_METHOD = "Workspace.get_permissions_mass"
_LIST_METHOD = "Workspace.list_workspace_ids"
# perm is a minimum, so 'w' also lists 'a'; above 'r' no world-readable workspace is listed, and
# excludeGlobal says so explicitly. Deleted workspaces are never listed; there is no paging.
_WRITABLE_PARAMS = {"perm": Permission.WRITE.value, "excludeGlobal": 1}
_READABLE_PARAMS = {"perm": Permission.READ.value, "excludeGlobal": 1}
WORKSPACES_PER_CALL = 1_000  # the Workspace service's own limit for get_permissions_mass
MISSING_WORKSPACE_RETRIES = 5  # calls spent skipping deleted workspaces before denying the rest
_MISSING = re.compile(r"no workspace with id|is deleted|has been deleted", re.IGNORECASE)
_NAMED_ID = re.compile(r"workspace(?: with id)?\s+(\d+)", re.IGNORECASE)


def _missing_workspace(error: RemoteError) -> int | None:
    """For a 'no such / deleted workspace' error: the id it names, or -1 if it names none.
    None when the error is about something else."""
    if not _MISSING.search(error.remote_message):
        return None
    named = _NAMED_ID.search(error.remote_message)
    return int(named.group(1)) if named else -1


def _parse_perms(result: list[Any], count: int) -> list[dict[str, Any]]:
    """The per-workspace permission maps of a get_permissions_mass result, in request order."""
    first = result[0] if result else None
    perms = first.get("perms") if isinstance(first, dict) else None
    if not isinstance(perms, list) or len(perms) != count or not all(isinstance(p, dict) for p in perms):
        raise unavailable(_SERVICE)
    return perms


def _parse_ids(result: list[Any]) -> tuple[int, ...]:
    """The `workspaces` ids of a list_workspace_ids result (`pub` is empty above perm 'r')."""
    first = result[0] if result else None
    ids = first.get("workspaces") if isinstance(first, dict) else None
    if not isinstance(ids, list) or not all(type(w) is int and w > 0 for w in ids):
        raise unavailable(_SERVICE)
    return tuple(ids)


class KBaseWorkspace(KBaseClient, Workspace):
    """The caller's permission on workspaces, from the KBase Workspace service."""

    service = _SERVICE
    default_cache_ttl_s = constants.WORKSPACE_CACHE_TTL_S

    def __init__(self, url: str, **options: Unpack[ClientOptions]) -> None:
        super().__init__(url, **options)
        self._cache: TTLCache[tuple[str, int], Permission] = self._new_cache()
        # (user, "w" or "r") -> the ids of the workspaces the user may write, or read
        self._listings: TTLCache[tuple[str, str], tuple[int, ...]] = self._new_cache()

    async def permissions(self, user: User, wsids: Sequence[int]) -> dict[int, Permission]:
        """The caller's permission on each workspace: cached answers plus one call for the rest.
        Raises DependencyUnavailable when the Workspace cannot answer."""
        found: dict[int, Permission] = {}
        missing: list[int] = []
        for wsid in dict.fromkeys(int(w) for w in wsids):
            cached = self._cache.get((user.name, wsid))
            if cached is None:
                missing.append(wsid)
            else:
                found[wsid] = cached
        for start in range(0, len(missing), WORKSPACES_PER_CALL):
            fetched = await self._fetch(user, missing[start : start + WORKSPACES_PER_CALL])
            for wsid, permission in fetched.items():
                self._cache.put((user.name, wsid), permission)
            found.update(fetched)
        return found

    async def writable_workspaces(self, user: User) -> list[int]:
        """Ids of the workspaces the caller may write, cached per user; one call when not cached.
        Raises DependencyUnavailable when the Workspace cannot answer."""
        return await self._listed(user, _WRITABLE_PARAMS)

    async def readable_workspaces(self, user: User) -> list[int]:
        """Ids of the workspaces shared with the caller for reading (or more), cached per user."""
        return await self._listed(user, _READABLE_PARAMS)

    async def _listed(self, user: User, listing: Mapping[str, object]) -> list[int]:
        key = (user.name, str(listing["perm"]))
        ids = self._listings.get(key)
        if ids is None:
            result = await self._call(_LIST_METHOD, [dict(listing)], user.token or None)
            ids = _parse_ids(result)
            self._listings.put(key, ids)
        return list(ids)

    async def _fetch(self, user: User, wsids: list[int]) -> dict[int, Permission]:
        denied: dict[int, Permission] = {}
        remaining = list(wsids)
        for _ in range(MISSING_WORKSPACE_RETRIES + 1):
            params = [{"workspaces": [{"id": w} for w in remaining]}]
            try:
                result = await self._call(_METHOD, params, user.token or None)
            except RemoteError as err:
                named = _missing_workspace(err)
                if named is None:
                    raise
                if named not in remaining or len(remaining) == 1:
                    break
                denied[named] = Permission.NONE
                remaining.remove(named)
                continue
            perms = _parse_perms(result, len(remaining))
            return denied | {w: best_permission(p, user.name) for w, p in zip(remaining, perms, strict=True)}
        return denied | dict.fromkeys(remaining, Permission.NONE)
