"""Console pages under /ui/: parse the form or query, call the service function, render a template.

Every answer carries the security headers (web/session.py); an error becomes a page saying what
happened, with the status the REST API would give; a missing or refused token leads to sign-in.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ee_retry.api.problems import http_status
from ee_retry.errors import AuthenticationError, EERetryError, InternalError
from ee_retry.service import browse
from ee_retry.service.deps import Deps
from ee_retry.web import bulk, pages
from ee_retry.web.pages import local_path, read_form
from ee_retry.web.session import Sessions, secured

log = logging.getLogger(__name__)

Page = Callable[["Console", Request], Awaitable[Response]]


class Console:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.sessions = Sessions(deps)
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("ee_retry.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    def render(self, request: Request, name: str, http_status: int = 200, **context: Any) -> Response:
        context.setdefault("user", None)
        html = self.env.get_template(name).render(csrf=self.sessions.csrf(request), **context)
        return secured(HTMLResponse(html, status_code=http_status))

    def redirect(self, url: str) -> Response:
        return secured(RedirectResponse(url, status_code=303))

    def failure(self, request: Request, exc: BaseException) -> Response:
        if isinstance(exc, AuthenticationError) and request.method == "GET":
            return self.redirect("/ui/login")
        err = exc if isinstance(exc, EERetryError) else InternalError()
        if not isinstance(exc, EERetryError):
            log.exception("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
        code = http_status(err)
        return self.render(request, "error.html", code, title=err.name, message=err.message, status=code)


def _page(handler: Page, console: Console) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        try:
            return await handler(console, request)
        except Exception as exc:
            return console.failure(request, exc)

    return run


async def login_form(console: Console, request: Request) -> Response:
    return console.render(request, "login.html", message=None)


async def login(console: Console, request: Request) -> Response:
    console.sessions.check_origin(request)
    token = (await read_form(request)).get("token", "").strip()
    try:
        if not token:
            raise AuthenticationError("Paste your token to sign in")
        await console.deps.auth.user_for_token(token)
    except AuthenticationError as exc:
        return console.render(request, "login.html", 401, message=exc.message)
    response = console.redirect("/ui/")
    console.sessions.sign_in(response, request, token)
    return response


async def logout(console: Console, request: Request) -> Response:
    console.sessions.check_csrf(request, (await read_form(request)).get("csrf"))
    response = console.redirect("/ui/login")
    console.sessions.sign_out(response, request)
    return response


async def jobs_page(console: Console, request: Request) -> Response:
    user = await console.sessions.user(request)
    filters = pages.list_filters(request, user)
    page = await browse.list_jobs(console.deps, user, pages.list_request(filters, request))
    return console.render(request, "jobs.html", **pages.jobs_context(user, filters, page))


async def job_page(console: Console, request: Request) -> Response:
    user = await console.sessions.user(request)
    detail = await browse.job_detail(console.deps, user, request.path_params["job_id"])
    lines = pages.log_lines_wanted(request)
    if lines > browse.LOG_TAIL_LINES:
        tail = await browse.log_tail(console.deps, detail.job.id, lines)
        detail = browse.JobDetail(detail.job, detail.lineage, detail.batch, tail, detail.retry_refusal)
    retried = request.query_params.get("retried")
    return console.render(
        request,
        "job.html",
        **pages.job_context(user, detail, lines, retried),
        idem=secrets.token_urlsafe(16),
    )


async def retry_job(console: Console, request: Request) -> Response:
    form = await read_form(request)
    console.sessions.check_csrf(request, form.get("csrf"))
    user = await console.sessions.user(request)
    answer = await browse.retry_one(console.deps, user, request.path_params["job_id"], pages.form_key(form))
    return console.redirect(f"/ui/jobs/{answer['job_id']}?{urlencode({'retried': answer['retry_id']})}")


async def cancel_job(console: Console, request: Request) -> Response:
    form = await read_form(request)
    console.sessions.check_csrf(request, form.get("csrf"))
    user = await console.sessions.user(request)
    job_id = request.path_params["job_id"]
    await browse.cancel_one(console.deps, user, job_id)
    return console.redirect(local_path(form.get("next"), f"/ui/jobs/{job_id}"))


# Each console path and the handler of each method it serves: a form's page and its submission
# share a path.
PAGES: dict[str, dict[str, Page]] = {
    "/ui/": {"GET": jobs_page},
    "/ui/login": {"GET": login_form, "POST": login},
    "/ui/logout": {"POST": logout},
    "/ui/jobs/{job_id}": {"GET": job_page},
    "/ui/jobs/{job_id}/retry": {"POST": retry_job},
    "/ui/jobs/{job_id}/cancel": {"POST": cancel_job},
    "/ui/retry-failed": {"POST": bulk.preview},
    "/ui/retry-failed/confirm": {"POST": bulk.confirm},
}


def console_routes(deps: Deps) -> list[BaseRoute]:
    console = Console(deps)
    page_routes: list[BaseRoute] = [
        Route(path, _page(handler, console), methods=[method])
        for path, handlers in PAGES.items()
        for method, handler in handlers.items()
    ]
    return [
        *page_routes,
        Route("/ui", lambda request: RedirectResponse("/ui/", status_code=307), methods=["GET"]),
        Mount("/ui/static", StaticFiles(packages=[("ee_retry.web", "static")]), name="ui-static"),
    ]
