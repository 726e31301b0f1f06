"""File-backed twins of the KBase clients: tokens, workspace permissions and a module catalog.

These are the embedded defaults. Each file is read when the adapter is built, so a missing or
malformed file stops the service at startup with a ValueError naming the file and the problem.
A call stats the file, at most once per FILE_RECHECK_S (1 s), and re-reads it when it changed, so
operators can edit it without a restart and an edit takes effect within a second (a removed token
still works for up to that second); an edit that leaves the file unreadable is logged and the last
good content stays in use. Without the interval every request paid a stat of the tokens file.

Formats (JSON):
    tokens:     {"tokens": {"<token>": {"user": "alice", "roles": ["EE2_ADMIN"]}}}
    workspaces: {"workspaces": {"<wsid>": {"<user>": "a" | "w" | "r" | "n", "*": "r"}}}
    catalog:    {"modules": {"<Module>": {"requirements": {"request_cpus": 1, "request_memory": 512,
                 "request_disk": 1, "client_group": "njs"}, "versions": [{"git_commit_hash": "<40 hex>",
                 "tags": ["release"], "command": ["{python}", "-m", "pkg.app"]}]}}}
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from ee_retry.adapters.kbase.values import (
    NO_LOGIN_MESSAGE,
    REJECTED_LOGIN_MESSAGE,
    RELEASE_TAG,
    best_permission,
    is_module_name,
    parse_requirements,
    shown,
    token_key,
    unknown_module,
)
from ee_retry.constants import FILE_RECHECK_S
from ee_retry.domain.ids import is_commit_hash
from ee_retry.domain.model import JobRequirements
from ee_retry.domain.values import Permission, ResolvedVersion, User
from ee_retry.errors import AuthenticationError
from ee_retry.ports import Auth, Catalog, Workspace

log = logging.getLogger(__name__)

T = TypeVar("T")
PYTHON_PLACEHOLDER = "{python}"  # in a catalog command: the interpreter running the service
_Signature = tuple[int, int, int]


class WatchedJsonFile(Generic[T]):
    """A JSON file turned into a value by `parse`, re-read when its size, mtime or inode change, which
    is looked at no more often than every `recheck_s` seconds of `clock` (monotonic seconds)."""

    def __init__(
        self,
        path: Path | str,
        parse: Callable[[Any, str], T],
        clock: Callable[[], float] = time.monotonic,
        recheck_s: float = FILE_RECHECK_S,
    ) -> None:
        self.path = Path(path)
        self._parse = parse
        self._clock = clock
        self._recheck_s = recheck_s
        signature = self._signature()
        if signature is None:
            raise ValueError(f"{self.path}: file not found or not readable")
        self._seen = signature
        self._checked_at = clock()
        self._value = self._load()

    def current(self) -> T:
        """The file's parsed content, re-read first if the file changed since it was last read."""
        now = self._clock()
        if now - self._checked_at < self._recheck_s:
            return self._value
        self._checked_at = now
        signature = self._signature()
        if signature is not None and signature != self._seen:
            self._seen = signature
            try:
                self._value = self._load()
            except ValueError as exc:
                log.warning("keeping the previous content of %s: %s", self.path, exc)
        return self._value

    def _signature(self) -> _Signature | None:
        try:
            found = os.stat(self.path)
        except OSError:
            return None
        return (found.st_mtime_ns, found.st_size, found.st_ino)

    def _load(self) -> T:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{self.path}: cannot be read ({exc.__class__.__name__})") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.path}: not valid JSON: {exc.msg} at line {exc.lineno}") from exc
        return self._parse(data, str(self.path))


def _section(data: Any, key: str, source: str) -> Mapping[str, Any]:
    """The top-level object under `key`, or a ValueError saying the file lacks it."""
    section = data.get(key) if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise ValueError(f'{source}: expected a JSON object with a "{key}" object at the top')
    return section


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{what} must be a list of non-empty strings")
    return value


# ---------------------------------------------------------------- tokens


def parse_tokens(data: Any, source: str) -> dict[str, tuple[str, frozenset[str]]]:
    """Token hash -> (user, roles). Error messages count entries and never quote a token."""
    tokens: dict[str, tuple[str, frozenset[str]]] = {}
    for number, (token, entry) in enumerate(_section(data, "tokens", source).items(), 1):
        where = f"{source}: token entry #{number}"
        if not token.strip():
            raise ValueError(f"{where}: the token is empty")
        if not isinstance(entry, dict):
            raise ValueError(f'{where}: expected an object with "user" and "roles"')
        user = entry.get("user")
        if not isinstance(user, str) or not user.strip():
            raise ValueError(f'{where}: "user" must be a non-empty string')
        roles = _strings(entry.get("roles", []), f'{where}: "roles"')
        tokens[token_key(token)] = (user.strip(), frozenset(roles))
    return tokens


class FileAuth(Auth):
    """Tokens from a JSON file: the embedded stand-in for KBase auth2."""

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.monotonic) -> None:
        self._file = WatchedJsonFile(path, parse_tokens, clock)

    async def user_for_token(self, token: str) -> User:
        """The user the file lists for this token; AuthenticationError if it lists none."""
        if not token:
            raise AuthenticationError(NO_LOGIN_MESSAGE)
        entry = self._file.current().get(token_key(token))
        if entry is None:
            raise AuthenticationError(REJECTED_LOGIN_MESSAGE)
        name, roles = entry
        return User(name=name, roles=roles, token=token)


# ---------------------------------------------------------------- workspaces


def parse_workspaces(data: Any, source: str) -> dict[int, dict[str, str]]:
    """Workspace id -> {user or "*": permission letter}."""
    letters = {p.value for p in Permission}
    workspaces: dict[int, dict[str, str]] = {}
    for key, perms in _section(data, "workspaces", source).items():
        where = f"{source}: workspace {shown(key)}"
        if not key.isdigit() or int(key) < 1:
            raise ValueError(f"{where}: workspace ids must be positive integers")
        if not isinstance(perms, dict):
            raise ValueError(f"{where}: expected an object mapping user names to permission letters")
        for user, letter in perms.items():
            if not user or not isinstance(letter, str) or letter not in letters:
                raise ValueError(f"{where}: user {shown(user)} has {shown(letter)}; use one of a, w, r, n")
        workspaces[int(key)] = dict(perms)
    return workspaces


class FileWorkspace(Workspace):
    """Workspace permissions from a JSON file: the embedded stand-in for the KBase Workspace."""

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.monotonic) -> None:
        self._file = WatchedJsonFile(path, parse_workspaces, clock)

    async def permissions(self, user: User, wsids: Sequence[int]) -> dict[int, Permission]:
        """The user's letter or the public ("*") one, whichever is stronger; unknown: no access."""
        workspaces = self._file.current()
        return {int(w): best_permission(workspaces.get(int(w), {}), user.name) for w in wsids}

    async def writable_workspaces(self, user: User) -> list[int]:
        """The workspaces where that same letter is "a" or "w", in ascending id order."""
        workspaces = self._file.current()
        return sorted(w for w, perms in workspaces.items() if best_permission(perms, user.name).can_write)

    async def readable_workspaces(self, user: User) -> list[int]:
        """The workspaces where the user's own letter (not the public one) lets them read."""
        workspaces = self._file.current()
        return sorted(w for w, perms in workspaces.items() if Permission(perms.get(user.name, "n")).can_read)


# ---------------------------------------------------------------- catalog


@dataclass(frozen=True)
class CatalogVersion:
    """One registered version of a module."""

    git_commit_hash: str
    tags: frozenset[str]
    command: tuple[str, ...]


@dataclass(frozen=True)
class CatalogModule:
    """A module, its resource request and its versions."""

    name: str
    requirements: JobRequirements
    versions: tuple[CatalogVersion, ...]

    def find(self, version: str | None) -> CatalogVersion | None:
        """The version a tag (None: "release") or a full commit hash names."""
        wanted = version or RELEASE_TAG
        if is_commit_hash(wanted):
            return next((v for v in self.versions if v.git_commit_hash == wanted.lower()), None)
        return next((v for v in self.versions if wanted in v.tags), None)


def _parse_version(raw: Any, where: str) -> CatalogVersion:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object with git_commit_hash, tags and command")
    commit = raw.get("git_commit_hash")
    if not isinstance(commit, str) or not is_commit_hash(commit):
        raise ValueError(f"{where}: git_commit_hash must be 40 hexadecimal digits, not {shown(commit)}")
    tags = _strings(raw.get("tags", []), f"{where}: tags")
    command = _strings(raw.get("command", []), f"{where}: command")
    return CatalogVersion(commit.lower(), frozenset(tags), tuple(command))


def _parse_module(name: str, raw: Any, source: str) -> CatalogModule:
    where = f"{source}: module {shown(name)}"
    if not is_module_name(name):
        raise ValueError(f"{where}: a module name is a letter followed by letters, digits or '_'")
    if not isinstance(raw, dict):
        raise ValueError(f'{where}: expected an object with "requirements" and "versions"')
    reqs = raw.get("requirements", {})
    if not isinstance(reqs, dict):
        raise ValueError(f"{where}: requirements must be an object")
    requirements = parse_requirements(reqs, f"{where}: requirements")
    raw_versions = raw.get("versions")
    if not isinstance(raw_versions, list) or not raw_versions:
        raise ValueError(f"{where}: versions must be a non-empty list")
    versions = tuple(_parse_version(v, f"{where}: version #{i}") for i, v in enumerate(raw_versions, 1))
    commits = [v.git_commit_hash for v in versions]
    tags = [t for v in versions for t in v.tags]
    if len(set(commits)) != len(commits):
        raise ValueError(f"{where}: the same git_commit_hash is listed twice")
    if len(set(tags)) != len(tags):
        raise ValueError(f"{where}: a tag may name only one version")
    return CatalogModule(name, requirements, versions)


def parse_catalog(data: Any, source: str) -> dict[str, CatalogModule]:
    """Lower-cased module name -> module (module names are case-insensitive, as in KBase)."""
    modules: dict[str, CatalogModule] = {}
    for name, raw in _section(data, "modules", source).items():
        module = _parse_module(name, raw, source)
        if name.lower() in modules:
            raise ValueError(f"{source}: module {shown(name)} is listed twice (names ignore case)")
        modules[name.lower()] = module
    return modules


class FileCatalog(Catalog):
    """Modules, versions and commands from a JSON file: the embedded stand-in for the KBase Catalog."""

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.monotonic) -> None:
        self._file = WatchedJsonFile(path, parse_catalog, clock)

    async def resolve(self, module: str, version: str | None, function: str | None = None) -> ResolvedVersion:
        """The version a tag, a commit hash or None ("release") names; UnknownModule otherwise.
        `function` is accepted for parity with KBaseCatalog; the file's requirements are per module."""
        found = self._file.current().get(module.lower())
        chosen = found.find(version) if found else None
        if found is None or chosen is None:
            raise unknown_module(module, version)
        command = tuple(sys.executable if part == PYTHON_PLACEHOLDER else part for part in chosen.command)
        return ResolvedVersion(
            module=found.name,
            git_commit_hash=chosen.git_commit_hash,
            requirements=found.requirements,
            command=command,
        )
