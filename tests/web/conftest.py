"""Browser tests: Playwright drives Debian's Chromium (the `chromium` on PATH; never a downloaded build)
against the real service (`python -m ee_retry`) on a loopback port with the embedded defaults.

Without Chromium every browser test module skips itself, and the skip says why.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from starlette.testclient import TestClient

from tests.e2e.server import Server, running
from tests.rpc.conftest import Api, Rpc

CHROMIUM = shutil.which("chromium")
NO_CHROMIUM = "chromium is not installed (apt-get install chromium chromium-driver): browser tests skipped"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module: Playwright's sync API keeps an event loop of its own running
    until it stops, which the async tests of other modules must never meet."""
    assert CHROMIUM is not None
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """The real service on the embedded defaults, stopped when the test ends."""
    with running(tmp_path / "data") as made:
        yield made


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page, server: Server, token: str = "alice-token") -> None:
    page.goto(server.url + "ui/")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "ui/")


def failed_job(server: Server, token: str = "alice-token", **params: Any) -> str:
    method = "Demo.fail_unless_file" if params else "Demo.fail"
    job_id: str = server.result("run_job", [{"method": method, "params": [params], "wsid": 1}], token)
    server.wait_status(job_id, {"error"})
    return job_id


@pytest.fixture
def api(client: TestClient, rpc: Rpc) -> Api:
    """JSON-RPC calls over the `client` fixture (the pages' tests make their jobs with it)."""
    return Api(client, rpc)
