"""The file-backed twin of the catalog: versions resolved by tag or commit, commands and job
requirements, edits seen without a restart, and malformed catalogs refused at startup."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from ee_retry.adapters.kbase.static import FileCatalog
from ee_retry.domain.model import JobRequirements
from ee_retry.errors import UnknownModule
from ee_retry.testing.clock import FakeClock
from tests.adapters.kbase.conftest import BETA, RECHECK_S, RELEASE, refused_at_startup, write

OLD = "0123456789abcdef0123456789abcdef01234567"


def catalog_data(**module_overrides: Any) -> dict[str, Any]:
    module: dict[str, Any] = {
        "requirements": {
            "request_cpus": 4,
            "request_memory": 2048,
            "request_disk": 10,
            "client_group": "bigmem",
        },
        "versions": [
            {
                "git_commit_hash": RELEASE,
                "tags": ["release"],
                "command": ["{python}", "-m", "demo", "{python}x"],
            },
            {"git_commit_hash": BETA, "tags": ["beta", "dev"], "command": ["/bin/true"]},
            {"git_commit_hash": OLD, "tags": []},
        ],
    }
    module.update(module_overrides)
    return {"modules": {"Demo": module}}


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    return write(tmp_path / "catalog.json", catalog_data())


async def test_no_version_resolves_to_the_version_tagged_release(catalog_file: Path) -> None:
    resolved = await FileCatalog(catalog_file).resolve("Demo", None)
    assert (resolved.module, resolved.git_commit_hash) == ("Demo", RELEASE)


@pytest.mark.parametrize(
    ("version", "commit"),
    [("release", RELEASE), ("beta", BETA), ("dev", BETA), (OLD, OLD), (BETA.upper(), BETA)],
)
async def test_a_tag_or_commit_resolves_to_that_version(
    catalog_file: Path, version: str, commit: str
) -> None:
    assert (await FileCatalog(catalog_file).resolve("Demo", version)).git_commit_hash == commit


async def test_module_names_ignore_case(catalog_file: Path) -> None:
    assert (await FileCatalog(catalog_file).resolve("demo", None)).module == "Demo"


@pytest.mark.parametrize("version", ["nightly", "1.0.0", RELEASE[:12], "f" * 40])
async def test_an_unknown_version_is_refused_naming_module_and_version(
    catalog_file: Path, version: str
) -> None:
    with pytest.raises(UnknownModule) as caught:
        await FileCatalog(catalog_file).resolve("Demo", version)
    assert "Demo" in caught.value.message
    assert version in caught.value.message


async def test_an_unknown_module_is_refused_naming_it(catalog_file: Path) -> None:
    with pytest.raises(UnknownModule, match="Other"):
        await FileCatalog(catalog_file).resolve("Other", None)


async def test_a_module_without_a_release_refuses_the_default_version(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", catalog_data(versions=[{"git_commit_hash": BETA, "tags": ["beta"]}]))
    with pytest.raises(UnknownModule, match="release"):
        await FileCatalog(path).resolve("Demo", None)


async def test_the_python_placeholder_becomes_the_services_interpreter(catalog_file: Path) -> None:
    resolved = await FileCatalog(catalog_file).resolve("Demo", None)
    assert resolved.command == (sys.executable, "-m", "demo", "{python}x")


async def test_a_version_without_a_command_has_none(catalog_file: Path) -> None:
    assert (await FileCatalog(catalog_file).resolve("Demo", OLD)).command == ()


async def test_catalog_requirements_become_job_requirements(catalog_file: Path) -> None:
    resolved = await FileCatalog(catalog_file).resolve("Demo", "beta", function="anything")
    assert resolved.requirements == JobRequirements(cpus=4, memory_mb=2048, disk_gb=10, client_group="bigmem")


async def test_missing_requirements_take_the_defaults(tmp_path: Path) -> None:
    data = catalog_data()
    del data["modules"]["Demo"]["requirements"]
    resolved = await FileCatalog(write(tmp_path / "c.json", data)).resolve("Demo", None)
    assert resolved.requirements == JobRequirements()


async def test_an_edited_catalog_takes_effect_without_a_restart(catalog_file: Path) -> None:
    clock = FakeClock()
    catalog = FileCatalog(catalog_file, clock.now)
    assert (await catalog.resolve("Demo", None)).git_commit_hash == RELEASE
    write(catalog_file, catalog_data(versions=[{"git_commit_hash": OLD, "tags": ["release"]}]))
    clock.advance(RECHECK_S)
    assert (await catalog.resolve("Demo", None)).git_commit_hash == OLD


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"versions": []}, "versions must be a non-empty list"),
        ({"versions": [{"git_commit_hash": "abc123", "tags": ["release"]}]}, "40 hexadecimal"),
        ({"versions": [{"git_commit_hash": RELEASE, "tags": "release"}]}, "tags"),
        ({"versions": [{"git_commit_hash": RELEASE, "command": "python -m x"}]}, "command"),
        (
            {
                "versions": [
                    {"git_commit_hash": RELEASE, "tags": ["release"]},
                    {"git_commit_hash": BETA, "tags": ["release"]},
                ]
            },
            "a tag may name only one version",
        ),
        ({"versions": [{"git_commit_hash": RELEASE}, {"git_commit_hash": RELEASE.upper()}]}, "listed twice"),
        ({"requirements": {"request_cpus": 0}}, "request_cpus"),
        ({"requirements": {"request_memory": "lots"}}, "request_memory"),
        ({"requirements": {"client_group": ""}}, "client_group"),
        ({"requirements": []}, "requirements must be an object"),
    ],
)
def test_a_malformed_catalog_fails_at_startup_naming_file_and_problem(
    tmp_path: Path, overrides: dict[str, Any], problem: str
) -> None:
    path = write(tmp_path / "catalog.json", catalog_data(**overrides))
    assert problem in refused_at_startup(FileCatalog, path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ({"module": {}}, '"modules"'),
        ({"modules": {"Bad-Name": catalog_data()["modules"]["Demo"]}}, "module name"),
        (
            {
                "modules": {
                    "Demo": catalog_data()["modules"]["Demo"],
                    "DEMO": catalog_data()["modules"]["Demo"],
                }
            },
            "twice",
        ),
        ({"modules": {"Demo": "v1"}}, "expected an object"),
    ],
)
def test_a_malformed_catalog_layout_fails_at_startup(tmp_path: Path, content: Any, problem: str) -> None:
    assert problem in refused_at_startup(FileCatalog, write(tmp_path / "catalog.json", content))


async def test_requirements_with_units_resolve_to_numbers(tmp_path: Path) -> None:
    data = catalog_data(
        requirements={"request_memory": "2000MB", "request_disk": "20GB", "request_cpus": "2"}
    )
    resolved = await FileCatalog(write(tmp_path / "catalog.json", data)).resolve("Demo", None)
    assert resolved.requirements == JobRequirements(cpus=2, memory_mb=2000, disk_gb=20)
