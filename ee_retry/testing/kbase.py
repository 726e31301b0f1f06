"""Fake KBase auth2, Workspace and Catalog services as small Starlette apps.

They speak the real services' HTTP shapes, errors included: auth2 answers `GET /api/V2/me` with the
user or a 401 `{"error": {"httpcode", "appcode", "apperror", "message", ...}}`; the Workspace and
Catalog answer JSON-RPC 1.1 `POST`s with `{"result": [...]}` or, with HTTP 500, a KBase error
object `{"name", "code", "message", "error"}`. Point a client at one with
`httpx2.ASGITransport(app)`. Each app keeps a `FakeServiceState` in `app.state.fake`: per-method
call counts (to check caching), the Authorization header of each call, and a switch that makes
every answer a bare HTTP error (to check outages).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

_TAG_ORDER = ("release", "beta", "dev")  # what the Catalog returns when no version is asked for


@dataclass
class FakeServiceState:
    """What a fake service saw, and how it should misbehave."""

    calls: Counter[str] = field(default_factory=Counter)  # method name -> number of calls
    authorizations: list[str | None] = field(default_factory=list)  # Authorization header per call
    params: list[Any] = field(default_factory=list)  # JSON-RPC params of each call, in order
    fail_status: int | None = None  # when set, every request gets this HTTP status and a text body


def fake_state(app: Starlette) -> FakeServiceState:
    """The state object of a fake app built here."""
    state = app.state.fake
    if not isinstance(state, FakeServiceState):
        raise TypeError("not a fake KBase app from ee_retry.testing.kbase")
    return state


def _outage(state: FakeServiceState) -> Response | None:
    if state.fail_status is None:
        return None
    return PlainTextResponse("service unavailable", status_code=state.fail_status)


# ---------------------------------------------------------------- auth2


def _auth2_error(status: int, appcode: int, apperror: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "httpcode": status,
                "httpstatus": "Unauthorized" if status == 401 else "Bad Request",
                "appcode": appcode,
                "apperror": apperror,
                "message": f"{appcode} {apperror}",
                "callid": "0000000000000000",
                "time": int(time.time() * 1000),
            }
        },
        status_code=status,
    )


def fake_auth2_app(tokens: Mapping[str, tuple[str, Sequence[str]]]) -> Starlette:
    """A fake auth2 (under any path prefix): `tokens` maps each valid token to (user, custom roles)."""
    state = FakeServiceState()

    async def me(request: Request) -> Response:
        if not request.url.path.endswith("/api/V2/me"):
            return PlainTextResponse("not found", status_code=404)
        state.calls["me"] += 1
        token = request.headers.get("authorization")
        state.authorizations.append(token)
        outage = _outage(state)
        if outage is not None:
            return outage
        if not token:
            return _auth2_error(401, 10010, "No authentication token")
        if token not in tokens:
            return _auth2_error(401, 10020, "Invalid token")
        user, roles = tokens[token]
        return JSONResponse(
            {
                "user": user,
                "display": user.title(),
                "email": f"{user}@example.org",
                "created": 0,
                "lastlogin": 0,
                "local": False,
                "roles": [],
                "customroles": list(roles),
                "policyids": [],
                "idents": [],
            }
        )

    app = Starlette(routes=[Route("/{path:path}", me, methods=["GET"])])
    app.state.fake = state
    return app


# ---------------------------------------------------------------- JSON-RPC services


class RpcFailure(Exception):
    """Raised by a fake method to answer with a KBase JSON-RPC error object."""


Method = Callable[[list[Any], str | None], Any]  # (params, the Authorization header) -> result


def _rpc_error(call_id: Any, name: str, code: int, message: str) -> JSONResponse:
    body = {
        "version": "1.1",
        "id": call_id,
        "error": {"name": name, "code": code, "message": message, "error": f"Traceback (fake): {message}"},
    }
    return JSONResponse(body, status_code=500)


def _rpc_app(service: str, methods: Mapping[str, Method], error_name: str, error_code: int) -> Starlette:
    state = FakeServiceState()

    async def endpoint(request: Request) -> Response:
        state.authorizations.append(request.headers.get("authorization"))
        outage = _outage(state)
        if outage is not None:
            state.calls["(outage)"] += 1
            return outage
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _rpc_error(None, "JSONRPCError", -32700, "Parse error")
        if not isinstance(body, dict):
            return _rpc_error(None, "JSONRPCError", -32600, "Invalid request")
        call_id, name, params = body.get("id"), body.get("method"), body.get("params")
        state.calls[str(name)] += 1
        state.params.append(params)
        method = methods.get(str(name))
        if method is None:
            return _rpc_error(
                call_id, "JSONRPCError", -32601, f"Can not find method [{name}] in server class"
            )
        if not isinstance(params, list):
            return _rpc_error(call_id, "JSONRPCError", -32602, "params must be a list")
        try:
            result = method(params, request.headers.get("authorization"))
        except RpcFailure as failure:
            return _rpc_error(call_id, error_name, error_code, str(failure))
        return JSONResponse({"version": "1.1", "id": call_id, "result": [result]})

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["POST"])])
    app.state.fake = state
    app.state.service = service
    return app


def _first_dict(params: list[Any]) -> dict[str, Any]:
    if not params or not isinstance(params[0], dict):
        raise RpcFailure("Expected a structure as the first parameter")
    return params[0]


# ---------------------------------------------------------------- workspace


_PERM_RANK = {"n": 0, "r": 1, "w": 2, "a": 3}


def fake_workspace_app(
    perms: Mapping[int, Mapping[str, str]],
    deleted: Iterable[int] = (),
    users: Mapping[str, str] | None = None,
) -> Starlette:
    """A fake Workspace: `perms` maps workspace id -> {user or "*": letter}; ids in `deleted` exist
    but are deleted. Unknown or deleted ids fail the whole get_permissions_mass call, as in KBase.
    `users` maps tokens to user names for list_workspace_ids, which answers for the caller (no
    token: anonymous; an unknown token fails the call)."""
    gone = frozenset(deleted)
    names = dict(users or {})

    def get_permissions_mass(params: list[Any], _token: str | None) -> dict[str, Any]:
        workspaces = _first_dict(params).get("workspaces")
        if not isinstance(workspaces, list):
            raise RpcFailure("workspaces must be a list")
        answer = []
        for ws in workspaces:
            wsid = ws.get("id") if isinstance(ws, dict) else None
            if not isinstance(wsid, int):
                raise RpcFailure("Each workspace must be identified by an integer id")
            if wsid in gone:
                raise RpcFailure(f"Workspace {wsid} is deleted")
            if wsid not in perms:
                raise RpcFailure(f"No workspace with id {wsid} exists")
            answer.append(dict(perms[wsid]))
        return {"perms": answer}

    def list_workspace_ids(params: list[Any], token: str | None) -> dict[str, Any]:
        options = _first_dict(params)
        if token is not None and token not in names:
            raise RpcFailure("Token validation failed!")
        user = names.get(token or "")
        wanted = max(_PERM_RANK.get(str(options.get("perm")), 0), _PERM_RANK["r"])  # a minimum
        exclude_global = bool(options.get("excludeGlobal", 1))
        own: list[int] = []
        public: list[int] = []
        for wsid, letters in sorted(perms.items()):
            if wsid in gone:
                continue
            mine = _PERM_RANK.get(letters.get(user, "n"), 0) if user else 0
            if mine >= wanted:
                own.append(wsid)
            elif letters.get("*") == "r" and wanted == _PERM_RANK["r"] and not exclude_global:
                public.append(wsid)
        return {"workspaces": own, "pub": public}

    methods = {
        "Workspace.get_permissions_mass": get_permissions_mass,
        "Workspace.list_workspace_ids": list_workspace_ids,
    }
    return _rpc_app("Workspace", methods, "JSONRPCError", -32500)


# ---------------------------------------------------------------- catalog


def _find_module(modules: Mapping[str, Any], name: Any) -> tuple[str, Mapping[str, Any]]:
    for key, module in modules.items():
        if isinstance(name, str) and key.lower() == name.lower():
            return key, module
    raise RpcFailure("Module cannot be found based on module_name or git_url parameters.")


def _pick_version(versions: Sequence[Mapping[str, Any]], wanted: Any) -> Mapping[str, Any]:
    def tagged(tag: str) -> Mapping[str, Any] | None:
        return next((v for v in versions if tag in v.get("tags", ())), None)

    if wanted is None or (isinstance(wanted, str) and not wanted.strip()):
        found = next((v for v in (tagged(t) for t in _TAG_ORDER) if v is not None), None)
    elif wanted in _TAG_ORDER:
        found = tagged(wanted)
    else:
        found = next((v for v in versions if wanted in (v.get("git_commit_hash"), v.get("version"))), None)
    if found is None:
        raise RpcFailure("No module version found that matches your criteria!")
    return found


def fake_catalog_app(modules: Mapping[str, Mapping[str, Any]]) -> Starlette:
    """A fake Catalog. `modules` maps a module name to
    `{"versions": [{"git_commit_hash", "tags": [...], "version": "1.0.0"}],
      "client_groups": {"<function>": ["<group>,request_cpus=4", ...]}}`.
    Module names are matched ignoring case, as the real Catalog does."""

    def get_module_version(params: list[Any], _token: str | None) -> dict[str, Any]:
        selection = _first_dict(params)
        name, module = _find_module(modules, selection.get("module_name"))
        version = _pick_version(module.get("versions", []), selection.get("version"))
        tags = [t for t in _TAG_ORDER if t in version.get("tags", ())]
        return {
            "module_name": name,
            "git_commit_hash": version["git_commit_hash"],
            "version": version.get("version", "0.0.1"),
            "release_tags": tags,
            "released": 1 if "release" in tags else 0,
        }

    def list_client_group_configs(params: list[Any], _token: str | None) -> list[dict[str, Any]]:
        selection = _first_dict(params)
        wanted = selection.get("module_name")
        function = selection.get("function_name")
        configs = []
        for name, module in modules.items():
            if isinstance(wanted, str) and name.lower() != wanted.lower():
                continue
            for fn, groups in module.get("client_groups", {}).items():
                if function is None or fn == function:
                    configs.append({"module_name": name, "function_name": fn, "client_groups": list(groups)})
        return configs

    methods = {
        "Catalog.get_module_version": get_module_version,
        "Catalog.list_client_group_configs": list_client_group_configs,
    }
    return _rpc_app("Catalog", methods, "Server error", -32000)
