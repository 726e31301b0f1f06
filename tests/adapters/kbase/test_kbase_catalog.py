"""The KBase Catalog client against the fake Catalog over ASGI: resolving a module version to its
commit, job requirements from the client group configs, caching, and outages."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from ee_retry import constants
from ee_retry.adapters.kbase import KBaseCatalog
from ee_retry.domain.model import JobRequirements
from ee_retry.errors import DependencyUnavailable, UnknownModule
from ee_retry.testing.clock import FakeClock
from ee_retry.testing.kbase import fake_catalog_app, fake_state
from tests.adapters.kbase.conftest import BETA, MODULES, RELEASE, Connect, calls


@pytest.fixture
def catalog_app() -> Starlette:
    return fake_catalog_app(MODULES)


@pytest.fixture
async def catalog(catalog_app: Starlette, connect: Connect) -> KBaseCatalog:
    return await connect(KBaseCatalog, "http://catalog.test/services/catalog", catalog_app)


async def test_no_version_means_the_release_commit(catalog: KBaseCatalog) -> None:
    resolved = await catalog.resolve("Demo", None)
    assert resolved.git_commit_hash == RELEASE
    assert resolved.module == "Demo"


@pytest.mark.parametrize(
    ("version", "commit"),
    [("release", RELEASE), ("beta", BETA), ("dev", BETA), (BETA, BETA), ("1.0.0", RELEASE)],
)
async def test_a_tag_commit_or_semantic_version_resolves_to_its_commit(
    catalog: KBaseCatalog, version: str, commit: str
) -> None:
    assert (await catalog.resolve("Demo", version)).git_commit_hash == commit


async def test_module_names_ignore_case_and_come_back_as_registered(catalog: KBaseCatalog) -> None:
    resolved = await catalog.resolve("demo", "beta")
    assert (resolved.module, resolved.git_commit_hash) == ("Demo", BETA)


async def test_an_unknown_module_names_the_module_and_version(catalog: KBaseCatalog) -> None:
    with pytest.raises(UnknownModule, match=r"'NoSuchModule'.*'release'"):
        await catalog.resolve("NoSuchModule", None)


async def test_an_unknown_version_names_the_module_and_version(catalog: KBaseCatalog) -> None:
    with pytest.raises(UnknownModule, match=r"'Demo'.*'9\.9\.9'"):
        await catalog.resolve("Demo", "9.9.9")


async def test_a_module_name_the_catalog_could_not_hold_is_refused_without_a_call(
    catalog: KBaseCatalog, catalog_app: Starlette
) -> None:
    with pytest.raises(UnknownModule):
        await catalog.resolve("../etc", None)
    assert sum(fake_state(catalog_app).calls.values()) == 0


async def test_resolved_versions_are_cached_until_the_ttl(
    catalog: KBaseCatalog, catalog_app: Starlette, clock: FakeClock
) -> None:
    await catalog.resolve("Demo", None)
    await catalog.resolve("Demo", "release")
    assert calls(catalog_app, "Catalog.get_module_version") == 1
    clock.advance(constants.CATALOG_CACHE_TTL_S + 1)
    await catalog.resolve("Demo", None)
    assert calls(catalog_app, "Catalog.get_module_version") == 2


async def test_an_unknown_version_is_not_cached(catalog: KBaseCatalog, catalog_app: Starlette) -> None:
    for _ in range(2):
        with pytest.raises(UnknownModule):
            await catalog.resolve("Demo", "9.9.9")
    assert calls(catalog_app, "Catalog.get_module_version") == 2


async def test_requirements_come_from_the_functions_client_group_config(catalog: KBaseCatalog) -> None:
    resolved = await catalog.resolve("Demo", None, function="assemble")
    assert resolved.requirements == JobRequirements(
        cpus=8, memory_mb=64_000, disk_gb=100, client_group="bigmem"
    )


async def test_requirements_in_json_form_are_read_too(catalog: KBaseCatalog) -> None:
    resolved = await catalog.resolve("Demo", None, function="upload")
    assert resolved.requirements == JobRequirements(cpus=2, client_group="kb_upload")


async def test_a_function_without_a_config_gets_the_default_requirements(catalog: KBaseCatalog) -> None:
    assert (await catalog.resolve("Demo", None, function="plain")).requirements == JobRequirements()


async def test_without_a_function_name_the_defaults_apply_and_no_config_is_fetched(
    catalog: KBaseCatalog, catalog_app: Starlette
) -> None:
    assert (await catalog.resolve("Demo", None)).requirements == JobRequirements()
    assert calls(catalog_app, "Catalog.list_client_group_configs") == 0


async def test_client_group_configs_are_cached(catalog: KBaseCatalog, catalog_app: Starlette) -> None:
    await catalog.resolve("Demo", None, function="assemble")
    await catalog.resolve("Demo", "beta", function="assemble")
    assert calls(catalog_app, "Catalog.list_client_group_configs") == 1


async def test_a_malformed_client_group_config_is_a_dependency_error_naming_it(catalog: KBaseCatalog) -> None:
    with pytest.raises(DependencyUnavailable, match=r"Demo\.broken"):
        await catalog.resolve("Demo", None, function="broken")


async def test_a_catalog_outage_is_a_dependency_error(catalog: KBaseCatalog, catalog_app: Starlette) -> None:
    fake_state(catalog_app).fail_status = 500
    with pytest.raises(DependencyUnavailable):
        await catalog.resolve("Demo", None)
