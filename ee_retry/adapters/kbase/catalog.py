"""Module versions and resource requests from KBase's Catalog service, cached.

`Catalog.get_module_version` turns a tag ("release", "beta", "dev"), a semantic version or a
commit into the version's git commit hash. `Catalog.list_client_group_configs` gives the resource
request registered for one function of a module; without a function name the defaults apply.
"""

from __future__ import annotations

from typing import Any, Unpack

from ee_retry import constants
from ee_retry.adapters.kbase.http import ClientOptions, KBaseClient, RemoteError, unavailable
from ee_retry.adapters.kbase.ttl_cache import TTLCache
from ee_retry.adapters.kbase.values import (
    RELEASE_TAG,
    is_module_name,
    parse_client_groups,
    parse_requirements,
    unknown_module,
)
from ee_retry.domain.model import JobRequirements
from ee_retry.domain.values import ResolvedVersion
from ee_retry.errors import DependencyUnavailable
from ee_retry.ports import Catalog

_SERVICE = "catalog"
_UNKNOWN_MARKERS = ("cannot be found", "no module version found", "never properly registered", "not found")


def _version_answer(result: list[Any], module: str) -> tuple[str, str]:
    """(canonical module name, git commit hash) from a get_module_version result."""
    info = result[0] if result else None
    commit = info.get("git_commit_hash") if isinstance(info, dict) else None
    if not isinstance(info, dict) or not isinstance(commit, str) or not commit:
        raise unavailable(_SERVICE)
    name = info.get("module_name")
    return (name if isinstance(name, str) and name else module), commit


class KBaseCatalog(KBaseClient, Catalog):
    """Resolves module versions to commits and looks up resource requests in the KBase Catalog."""

    service = _SERVICE
    default_cache_ttl_s = constants.CATALOG_CACHE_TTL_S

    def __init__(self, url: str, **options: Unpack[ClientOptions]) -> None:
        super().__init__(url, **options)
        self._versions: TTLCache[tuple[str, str], tuple[str, str]] = self._new_cache()
        self._requirements: TTLCache[tuple[str, str], JobRequirements] = self._new_cache()

    async def resolve(self, module: str, version: str | None, function: str | None = None) -> ResolvedVersion:
        """The commit that `version` (None: "release") of `module` names, with the resource request
        registered for `function` (the part after the dot of a method) or the defaults.

        Raises UnknownModule for a module or version the catalog does not know, and
        DependencyUnavailable when the catalog cannot answer.
        """
        if not is_module_name(module):
            raise unknown_module(module, version)
        tag = version or RELEASE_TAG
        key = (module.lower(), tag)
        answer = self._versions.get(key)
        if answer is None:
            answer = await self._module_version(module, tag)
            self._versions.put(key, answer)
        name, commit = answer
        requirements = await self.requirements(name, function) if function else JobRequirements()
        return ResolvedVersion(module=name, git_commit_hash=commit, requirements=requirements)

    async def requirements(self, module: str, function: str) -> JobRequirements:
        """The resource request registered for `module.function`, or the defaults if none is."""
        key = (module.lower(), function)
        cached = self._requirements.get(key)
        if cached is not None:
            return cached
        params = [{"module_name": module, "function_name": function}]
        result = await self._call("Catalog.list_client_group_configs", params)
        configs = result[0] if result else None
        if not isinstance(configs, list):
            raise unavailable(_SERVICE)
        requirements = JobRequirements()
        if configs and isinstance(configs[0], dict):
            source = f"{module}.{function}"
            try:
                raw = parse_client_groups(configs[0].get("client_groups") or [], source)
                requirements = parse_requirements(raw, source)
            except ValueError as exc:
                raise DependencyUnavailable(f"The catalog's client group config is malformed: {exc}") from exc
        self._requirements.put(key, requirements)
        return requirements

    async def _module_version(self, module: str, tag: str) -> tuple[str, str]:
        params = [{"module_name": module, "version": tag}]
        try:
            result = await self._call("Catalog.get_module_version", params)
        except RemoteError as err:
            if any(marker in err.remote_message.lower() for marker in _UNKNOWN_MARKERS):
                raise unknown_module(module, tag) from err
            raise
        return _version_answer(result, module)
