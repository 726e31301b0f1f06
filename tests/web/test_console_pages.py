"""Console pages without a browser: cookie attributes, CSRF and Origin checks, headers, escaping."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from ee_retry.testing.clock import FakeClock
from ee_retry.testing.scheduler import FakeScheduler
from tests.rpc.conftest import Api


def signed_in(client: TestClient, token: str = "alice-token") -> str:
    """Sign in; returns the CSRF token the jobs page carries."""
    client.post("/ui/login", data={"token": token})
    page = client.get("/ui/")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_the_session_cookie_is_http_only_strict_and_secure_over_https(client: TestClient) -> None:
    plain = client.post("/ui/login", data={"token": "alice-token"}, follow_redirects=False)
    cookie = plain.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie
    secure = client.post("https://testserver/ui/login", data={"token": "alice-token"}, follow_redirects=False)
    assert "Secure" in secure.headers["set-cookie"]
    assert plain.headers["location"] == "/ui/"


def test_pages_forbid_framing_and_inline_script(client: TestClient) -> None:
    for path in ("/ui/login", "/ui/"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert headers["x-frame-options"] == "DENY"


def test_a_state_change_without_the_csrf_token_or_from_another_origin_is_refused(
    client: TestClient, api: Api
) -> None:
    job_id = api.run()
    csrf = signed_in(client)
    assert client.post(f"/ui/jobs/{job_id}/cancel", data={}).status_code == 403
    assert client.post(f"/ui/jobs/{job_id}/cancel", data={"csrf": "0" * 64}).status_code == 403
    evil = {"Origin": "http://evil.example"}
    assert client.post(f"/ui/jobs/{job_id}/cancel", data={"csrf": csrf}, headers=evil).status_code == 403
    assert api.state(job_id)["status"] != "terminated"
    done = client.post(
        f"/ui/jobs/{job_id}/cancel", data={"csrf": csrf, "next": "//evil.example/"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"/ui/jobs/{job_id}"
    assert api.state(job_id)["status"] == "terminated"


async def test_an_error_message_is_escaped(client: TestClient, api: Api, sched: FakeScheduler) -> None:
    job_id = api.run()
    await sched.complete(job_id, exit_code=1, error='<script>alert("x")</script>')
    signed_in(client)
    page = client.get(f"/ui/jobs/{job_id}").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert '<script>alert("x")' not in page


def test_without_a_session_pages_lead_to_sign_in_and_posts_are_refused(client: TestClient, api: Api) -> None:
    job_id = api.run()
    page = client.get(f"/ui/jobs/{job_id}", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/ui/login"
    assert client.post(f"/ui/jobs/{job_id}/retry", data={"csrf": ""}).status_code == 403


def test_the_log_tail_shows_the_last_lines_and_load_more_shows_earlier_ones(
    client: TestClient, api: Api
) -> None:
    job_id = api.run()
    api.call("add_job_logs", [{"job_id": job_id}, [{"line": f"step {i}"} for i in range(80)]])
    signed_in(client)
    page = client.get(f"/ui/jobs/{job_id}").text
    assert "step 30<" in page and "step 79<" in page and "step 29<" not in page
    assert "50 of 80 lines" in page and 'name="lines" value="100"' in page
    more = client.get(f"/ui/jobs/{job_id}", params={"lines": "100"}).text
    assert "step 0<" in more and "80 of 80 lines" in more and "Load more" not in more


def test_the_jobs_page_filters_by_status_app_and_dates_and_counts_per_status(
    client: TestClient, api: Api, clock: FakeClock
) -> None:
    old = api.run(method="Demo.fail")  # 2023-11-14, the clock's start
    clock.advance(3 * 86_400)
    new = api.run()
    signed_in(client)

    def listed(**params: str) -> set[str]:
        page = client.get("/ui/", params=params).text
        return set(re.findall(r'href="/ui/jobs/([0-9a-f]{24})"', page))

    assert listed() == {old, new}
    assert listed(since="2023-11-16") == {new}
    assert listed(until="2023-11-16") == {old}
    assert listed(app="Demo.fail") == {old}
    assert listed(status="completed") == set()
    counts = client.get("/ui/").text
    assert re.search(r'badge wait">queued</span> <span class="n">2<', counts)
    assert client.get("/ui/", params={"status": "exploded"}).status_code == 400
