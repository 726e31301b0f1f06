"""The console in a real browser: sign-in, the jobs and job pages, Retry, Cancel, bulk retry, security."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.server import Server, free_port
from tests.web.conftest import CHROMIUM, NO_CHROMIUM, failed_job, sign_in

if CHROMIUM is None:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

pytestmark = pytest.mark.slow
RED = "rgb(180, 35, 24)"  # --bad in console.css


def test_sign_in_keeps_the_token_in_an_http_only_strict_cookie_and_sign_out_clears_it(
    page: Page, server: Server
) -> None:
    page.goto(server.url + "ui/")
    expect(page).to_have_url(server.url + "ui/login")
    sign_in(page, server)
    expect(page.get_by_text("Signed in as alice")).to_be_visible()
    [cookie] = page.context.cookies()
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["value"] == "alice-token"
    assert "alice-token" not in page.content() and "alice-token" not in page.url
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("window.localStorage.length") == 0
    headers = page.request.get(server.url + "ui/").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(server.url + "ui/login")
    assert page.context.cookies() == []


def test_a_refused_token_is_told_so(page: Page, server: Server) -> None:
    page.goto(server.url + "ui/login")
    page.get_by_label("Token").fill("wrong-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert page.context.cookies() == []


def test_a_failed_job_shows_a_red_error_badge_and_its_page_shows_the_error_and_lineage(
    page: Page, server: Server
) -> None:
    job_id = failed_job(server)
    sign_in(page, server)
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=job_id))
    badge = row.locator(".badge")
    expect(badge).to_have_text("error")
    assert badge.evaluate("e => getComputedStyle(e).color") == RED
    expect(row.get_by_role("button", name="Retry")).to_be_visible()

    row.get_by_role("link", name=job_id).click()
    expect(page).to_have_url(server.url + f"ui/jobs/{job_id}")
    expect(page.get_by_role("heading", name="Error", exact=True)).to_be_visible()
    expect(page.locator("pre.message")).to_have_text(
        "Job process exited with code 1: Demo.fail: failing on purpose with exit code 1"
    )
    expect(page.get_by_role("heading", name="Lineage")).to_be_visible()
    expect(page.locator(".lineage li")).to_have_count(1)


def test_retry_creates_an_attempt_that_both_pages_link(page: Page, server: Server) -> None:
    job_id = failed_job(server)
    sign_in(page, server)
    page.goto(server.url + f"ui/jobs/{job_id}")
    expect(page.get_by_role("button", name="Retry")).to_have_count(1)
    page.get_by_role("button", name="Retry").click()

    notice = page.get_by_role("status")
    expect(notice).to_contain_text("Retried as")
    attempt_id = notice.get_by_role("link").inner_text()
    assert server.result("check_job", [{"job_id": attempt_id}])["retry_parent"] == job_id
    expect(page.locator(".lineage li")).to_have_count(2)

    notice.get_by_role("link").click()
    expect(page).to_have_url(server.url + f"ui/jobs/{attempt_id}")
    expect(page.get_by_text("This job is an attempt of")).to_be_visible()
    page.get_by_text("This job is an attempt of").get_by_role("link", name=job_id).click()
    expect(page).to_have_url(server.url + f"ui/jobs/{job_id}")


def test_a_job_that_cannot_be_retried_has_a_disabled_retry_saying_why(page: Page, server: Server) -> None:
    job_id: str = server.result("run_job", [{"method": "Demo.succeed", "params": [{}], "wsid": 1}])
    server.wait_status(job_id, {"completed"})
    sign_in(page, server)
    page.goto(server.url + f"ui/jobs/{job_id}")
    expect(page.get_by_role("button", name="Retry")).to_be_disabled()
    expect(page.locator("#retry-reason")).to_contain_text("can only retry jobs with status")


def test_cancel_stops_a_running_job(page: Page, server: Server) -> None:
    job_id: str = server.result(
        "run_job", [{"method": "Demo.sleep", "params": [{"seconds": 600}], "wsid": 1}]
    )
    server.wait_status(job_id, {"running"})
    sign_in(page, server)
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=job_id))
    row.get_by_role("button", name="Cancel").click()
    expect(page).to_have_url(server.url + "ui/?")
    assert server.wait_status(job_id, {"terminated"})["status"] == "terminated"
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=job_id))
    expect(row.locator(".badge")).to_have_text("terminated")


def test_bulk_retry_previews_then_confirm_retries_once_even_when_confirmed_twice(
    page: Page, server: Server
) -> None:
    originals = [failed_job(server) for _ in range(2)]
    sign_in(page, server)
    page.get_by_label("App").fill("Demo.fail")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("button", name="Retry failed").click()
    expect(page.get_by_role("status")).to_have_text("2 jobs would be retried; 0 refused.")
    assert all(server.result("check_job", [{"job_id": j}])["retry_ids"] == [] for j in originals)

    confirm_form = page.evaluate(
        "() => Object.fromEntries(new FormData(document.querySelector('form[action$=\"/confirm\"]')))"
    )
    page.get_by_role("button", name="Confirm").dblclick()
    expect(page.get_by_role("status")).to_contain_text("Retried 2")
    resent = page.evaluate(  # the same preview confirmed once more, as a resent form would be
        "d => fetch('/ui/retry-failed/confirm', {method: 'POST', body: new URLSearchParams(d)})"
        ".then(r => r.text())",
        confirm_form,
    )
    assert "Retried <strong>2</strong>" in resent
    for job_id in originals:
        assert len(server.result("check_job", [{"job_id": job_id}])["retry_ids"]) == 1


def test_an_error_message_holding_a_script_is_shown_as_text(page: Page, server: Server) -> None:
    job_id = failed_job(server, path="<script>window.pwned = 1</script>")
    sign_in(page, server)
    page.goto(server.url + f"ui/jobs/{job_id}")
    expect(page.locator("pre.message")).to_contain_text("<script>window.pwned = 1</script>")
    assert page.evaluate("window.pwned") is None
    assert page.locator("pre.message script").count() == 0


@pytest.fixture
def other_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A page on another site (localhost is not the same site as 127.0.0.1)."""
    root = tmp_path / "site"
    root.mkdir()
    port = free_port()
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(root))  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{port}/", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_post_from_another_site_or_without_the_csrf_token_is_refused(
    page: Page, server: Server, other_site: tuple[str, Path]
) -> None:
    job_id: str = server.result(
        "run_job", [{"method": "Demo.sleep", "params": [{"seconds": 600}], "wsid": 1}]
    )
    sign_in(page, server)
    url, root = other_site
    (root / "evil.html").write_text(
        f'<form id="f" method="post" action="{server.url}ui/jobs/{job_id}/cancel"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    page.goto(url + "evil.html")
    page.wait_for_load_state("networkidle")
    assert server.result("check_job", [{"job_id": job_id}])["status"] != "terminated"

    page.goto(server.url + "ui/")
    status = page.evaluate(
        "url => fetch(url, {method: 'POST', body: new URLSearchParams({next: '/ui/'})}).then(r => r.status)",
        f"{server.url}ui/jobs/{job_id}/cancel",
    )
    assert status == 403
    assert server.result("check_job", [{"job_id": job_id}])["status"] != "terminated"


def test_another_users_private_job_is_invisible(page: Page, server: Server) -> None:
    bobs: str = server.result("run_job", [{"method": "Demo.succeed", "params": [{}], "wsid": 2}], "bob-token")
    mine = failed_job(server)
    sign_in(page, server)
    expect(page.get_by_role("link", name=mine)).to_be_visible()
    expect(page.get_by_role("link", name=bobs)).to_have_count(0)
    page.goto(server.url + f"ui/jobs/{bobs}")
    expect(page.get_by_role("heading", name="Job not found")).to_be_visible()


def test_a_read_only_admins_retry_is_refused_with_a_clear_message(page: Page, server: Server) -> None:
    job_id = failed_job(server)
    sign_in(page, server, "readonly-admin-token")
    page.goto(server.url + f"ui/jobs/{job_id}")
    expect(page.get_by_role("button", name="Retry")).to_be_disabled()
    expect(page.locator("#retry-reason")).to_contain_text("Read-only admins (EE2_ADMIN_RO) cannot retry jobs")
    page.goto(server.url + "ui/")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=job_id))
    row.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("alert")).to_contain_text("Read-only admins (EE2_ADMIN_RO) cannot retry jobs")
    assert server.result("check_job", [{"job_id": job_id}])["retry_ids"] == []


def test_the_jobs_page_refreshes_itself_keeping_filters_and_scroll(page: Page, server: Server) -> None:
    failed_job(server)
    page.set_viewport_size({"width": 900, "height": 320})
    sign_in(page, server)
    page.goto(server.url + "ui/?app=Demo.fail")
    expect(page.locator("table.jobs tbody tr")).to_have_count(1)
    page.evaluate("window.scrollTo(0, 150)")
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 0
    failed_job(server)
    expect(page.locator("table.jobs tbody tr")).to_have_count(2, timeout=20_000)
    assert page.url == server.url + "ui/?app=Demo.fail"
    assert page.get_by_label("App").input_value() == "Demo.fail"
    assert page.evaluate("window.scrollY") == scrolled
