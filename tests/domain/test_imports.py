"""The domain core is pure: importing every module under ee_retry/domain loads no database driver,
scheduler binding, web framework or HTTP client (checked in a fresh interpreter, as click does)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import ee_retry.domain

FORBIDDEN = (
    "pymongo",
    "bson",
    "htcondor2",
    "htcondor",
    "classad2",
    "starlette",
    "httpx2",
    "httpx",
    "uvicorn",
)
CONTRACTS = (  # stdlib-only, allowed; the runner holds the job-output rule it ships to execute nodes
    "ee_retry",
    "ee_retry.errors",
    "ee_retry.constants",
    "ee_retry.runner",
)

IMPORT_ALL = """
import importlib, json, sys
for name in {modules!r}:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def domain_modules() -> list[str]:
    """ee_retry.domain and every module under it."""
    package = ee_retry.domain
    found = [info.name for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + ".")]
    return [package.__name__, *sorted(found)]


def loaded_after_importing(modules: list[str]) -> set[str]:
    """The module names a fresh interpreter holds after importing `modules`."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL.format(modules=modules)],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(result.stdout))


def test_the_domain_has_modules_to_check() -> None:
    assert "ee_retry.domain.model" in domain_modules()
    assert len(domain_modules()) > 3


def test_importing_the_domain_loads_no_database_scheduler_web_or_http_package() -> None:
    loaded = loaded_after_importing(domain_modules())

    assert set(domain_modules()) <= loaded
    offenders = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN)
    assert offenders == [], f"ee_retry.domain pulled in {offenders}"


def test_the_domain_imports_only_the_standard_library_and_the_contract_modules() -> None:
    """Nothing outside the standard library, and of ee_retry only the domain itself and the
    stdlib-only contract modules (errors, constants, and the runner)."""
    added = loaded_after_importing(domain_modules()) - loaded_after_importing([])

    allowed_own = set(CONTRACTS) | set(domain_modules())
    third_party = sorted(m for m in added if m.split(".")[0] not in sys.stdlib_module_names | {"ee_retry"})
    own = sorted(m for m in added if m.split(".")[0] == "ee_retry" and m not in allowed_own)
    assert third_party == [], f"ee_retry.domain pulled in {third_party}"
    assert own == [], f"ee_retry.domain imports outside the pure core: {own}"


def test_the_check_would_see_a_forbidden_import() -> None:
    """The subprocess really reports what was loaded: importing starlette shows up."""
    assert "starlette" in loaded_after_importing(["starlette"])
