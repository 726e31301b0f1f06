"""Build the production ports from Settings: each real component is switched on by its own URL."""

from __future__ import annotations

from ee_retry.adapters.clock import SystemClock
from ee_retry.adapters.local.private_files import private_folder
from ee_retry.ports import Auth, Catalog, JobStore, Scheduler, Workspace
from ee_retry.service.deps import Deps
from ee_retry.settings import Settings, demo_file


def build_store(settings: Settings) -> JobStore:
    if settings.mongo_uri:
        from ee_retry.adapters.store.mongo import MongoJobStore

        return MongoJobStore.from_uri(settings.mongo_uri, settings.mongo_db)
    from ee_retry.adapters.store.sqlite import SqliteJobStore

    private_folder(settings.data_dir)
    return SqliteJobStore(settings.data_dir / "ee_retry.sqlite3")


def build_scheduler(settings: Settings) -> Scheduler:
    if settings.scheduler == "htcondor":
        from ee_retry.adapters.htcondor.scheduler import HTCondorScheduler

        return HTCondorScheduler.from_settings(settings)
    from ee_retry.adapters.local.executor import LocalExecutor

    return LocalExecutor(settings.data_dir, settings.local_max_parallel)


def build_auth(settings: Settings) -> Auth:
    if settings.auth_url:
        from ee_retry.adapters.kbase.auth import KBaseAuth

        return KBaseAuth(settings.auth_url)
    from ee_retry.adapters.kbase.static import FileAuth

    return FileAuth(settings.tokens_file or demo_file("tokens.json"))


def build_workspace(settings: Settings) -> Workspace:
    if settings.workspace_url:
        from ee_retry.adapters.kbase.workspace import KBaseWorkspace

        return KBaseWorkspace(settings.workspace_url)
    from ee_retry.adapters.kbase.static import FileWorkspace

    return FileWorkspace(settings.workspace_file or demo_file("workspaces.json"))


def build_catalog(settings: Settings) -> Catalog:
    if settings.catalog_url:
        from ee_retry.adapters.kbase.catalog import KBaseCatalog

        return KBaseCatalog(settings.catalog_url)
    from ee_retry.adapters.kbase.static import FileCatalog

    return FileCatalog(settings.catalog_file or demo_file("catalog.json"))


def build_deps(settings: Settings) -> Deps:
    return Deps(
        store=build_store(settings),
        scheduler=build_scheduler(settings),
        auth=build_auth(settings),
        workspace=build_workspace(settings),
        catalog=build_catalog(settings),
        clock=SystemClock(),
        settings=settings,
    )
