"""Automatic retry policy methods: get_retry_policy and reset_retry_breaker (parse, call, shape)."""

from __future__ import annotations

from typing import Any

from ee_retry.rpc import params as rpc_params
from ee_retry.rpc.context import Call, Handler
from ee_retry.service.policy import admin


async def get_retry_policy(call: Call, params: list[Any]) -> dict[str, Any]:
    rpc_params.first_dict(params, "get_retry_policy", optional=True)
    return await admin.retry_policy(call.deps, await call.user())


async def reset_retry_breaker(call: Call, params: list[Any]) -> dict[str, Any]:
    args = rpc_params.first_dict(params, "reset_retry_breaker")
    return await admin.reset_breaker(call.deps, await call.user(), args.get("app"))


POLICY_METHODS: dict[str, Handler] = {
    "get_retry_policy": get_retry_policy,
    "reset_retry_breaker": reset_retry_breaker,
}
