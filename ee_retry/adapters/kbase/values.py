"""Reading KBase values: permission letters, catalog resource requests, commit hashes.

Shared by the real KBase clients and their file-backed twins, so both read the same shapes the
same way. Pure functions over plain data; a bad value raises ValueError saying what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ee_retry.domain.model import JobRequirements
from ee_retry.domain.values import Permission
from ee_retry.errors import UnknownModule

_RANK = {Permission.NONE: 0, Permission.READ: 1, Permission.WRITE: 2, Permission.ADMIN: 3}
_MODULE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")
_SHOWN_CHARS = 80  # user-supplied text quoted in an error message is cut to this length

RELEASE_TAG = "release"
REJECTED_LOGIN_MESSAGE = "The token is invalid or expired; log in again and send the new token."
NO_LOGIN_MESSAGE = "No token was sent; send a KBase token in the Authorization header."


def token_key(token: str) -> str:
    """A token's SHA-256, used wherever a token must be looked up, so raw tokens are never keys."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def shown(value: object) -> str:
    """A short, quoted rendering of user-supplied text for error messages."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def is_module_name(value: str) -> bool:
    """True for a name the KBase catalog could know: a letter, then letters, digits or '_'."""
    return _MODULE_NAME.fullmatch(value) is not None


def unknown_module(module: str, version: str | None) -> UnknownModule:
    """The error for a module or version the catalog does not know, naming both."""
    return UnknownModule(
        f"The catalog does not know module {shown(module)} at version {shown(version or RELEASE_TAG)}."
    )


def best_permission(perms: Mapping[str, Any], user: str) -> Permission:
    """The caller's permission from one workspace's `{user: letter, "*": letter}` map.

    The user's own letter and the public ("*") letter both count; the stronger wins; anything
    missing or unrecognised counts as no access.
    """
    best = Permission.NONE
    for who in (user, "*"):
        letter = perms.get(who)
        if not isinstance(letter, str):
            continue
        try:
            permission = Permission(letter)
        except ValueError:
            continue
        if _RANK[permission] > _RANK[best]:
            best = permission
    return best


def _positive_int(value: Any, name: str, unit_suffixes: Sequence[str], source: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{source}: {name} must be a positive integer, not {shown(value)}")
    if isinstance(value, str):
        text = value.strip()
        for suffix in unit_suffixes:
            if text.upper().endswith(suffix):
                text = text[: -len(suffix)].strip()
                break
        value = int(text) if text.isdigit() else None
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{source}: {name} must be a positive integer, not {shown(value)}")
    return value


def parse_requirements(raw: Mapping[str, Any], source: str) -> JobRequirements:
    """JobRequirements from catalog keys (request_cpus, request_memory in MB, request_disk in GB,
    client_group); missing keys take JobRequirements' defaults. Memory may say "2000M" or "2000MB"
    and disk "10GB", as the KBase catalog allows."""
    defaults = JobRequirements()
    cpus = raw.get("request_cpus")
    memory = raw.get("request_memory")
    disk = raw.get("request_disk")
    group = raw.get("client_group")
    if group is not None and (not isinstance(group, str) or not group.strip() or "=" in group):
        raise ValueError(f"{source}: client_group must be a non-empty name, not {shown(group)}")
    return JobRequirements(
        cpus=defaults.cpus if cpus is None else _positive_int(cpus, "request_cpus", (), source),
        memory_mb=defaults.memory_mb
        if memory is None
        else _positive_int(memory, "request_memory", ("MB", "M"), source),
        disk_gb=defaults.disk_gb if disk is None else _positive_int(disk, "request_disk", ("GB",), source),
        client_group=defaults.client_group if group is None else group.strip(),
    )


def parse_client_groups(client_groups: Sequence[Any], source: str) -> dict[str, Any]:
    """The resource request in a catalog ClientGroupConfig's `client_groups` list.

    The catalog stores either JSON (possibly split over several list items) or a CSV string whose
    first field is the client group and the rest `key=value` pairs, e.g. "bigmem,request_cpus=8".
    """
    items = [c for c in client_groups if isinstance(c, str) and c.strip()]
    if not items:
        return {}
    if "{" in items[0]:
        try:
            parsed = json.loads(", ".join(items))
        except ValueError as exc:
            raise ValueError(f"{source}: client_groups is not valid JSON") from exc
        if not isinstance(parsed, dict):
            raise ValueError(f"{source}: client_groups JSON must be an object")
        return parsed
    fields = [f.strip() for f in items[0].split(",")]
    request: dict[str, Any] = {"client_group": fields[0]} if fields[0] else {}
    for item in fields[1:]:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{source}: client_groups item {shown(item)} is not key=value")
        request[key.strip()] = value.strip()
    return request
