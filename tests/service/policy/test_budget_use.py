"""Budget use written by two holders of a loaded policy state at once (two instances that both believe
they hold the automatic-retry lease): the store keeps every start and failed attempt of both, each
once, and a writer that keeps losing the race gives up after a bounded number of tries."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from ee_retry import constants
from ee_retry.domain.values import STATE_REV, StateWrite
from ee_retry.service.policy.state import APP_USE, USE, USER_USE, PolicyState
from tests.service.conftest import Env

USER, APP, NEW_APP = "alice", "Demo.fail", "Demo.new"


def now_ms(env: Env) -> int:
    return int(env.clock.now() * 1000)


async def stored_use(env: Env) -> dict[str, dict[str, list[Any]]]:
    """Every budget-use document as stored, without its revision, each list sorted."""
    docs = await env.deps.store.get_states(USE)
    return {key: {k: sorted(v) for k, v in doc.items() if k != STATE_REV} for key, doc in docs.items()}


def held_use(state: PolicyState) -> dict[str, dict[str, list[Any]]]:
    """The budget-use documents a state holds in memory, in the shape of `stored_use`."""
    docs = {USER_USE + k: v for k, v in state.user_use.items()} | {
        APP_USE + k: v for k, v in state.app_use.items()
    }
    return {key: {k: sorted(v) for k, v in doc.items()} for key, doc in docs.items()}


async def test_two_writers_keep_every_entry_of_both_each_once(env: Env) -> None:
    """Both load the same use (one earlier start); each records its own starts, one a failed attempt
    and both a first start of an app with no document yet; the later save merges, counting none twice."""
    t = now_ms(env)
    earlier = PolicyState()
    earlier.record_start(USER, APP, t - 1_000)
    await earlier.save(env.deps.store, t)
    first, second = await PolicyState.load(env.deps.store), await PolicyState.load(env.deps.store)
    first.record_start(USER, APP, t)
    first.record_start(USER, APP, t)  # two starts in the same millisecond are two entries
    first.record_start(USER, NEW_APP, t + 1)
    second.record_start(USER, APP, t + 2)
    second.record_start(USER, NEW_APP, t + 3)
    second.record_failed_attempt(USER, t + 4, 1.5)

    await first.save(env.deps.store, t + 10)
    await second.save(env.deps.store, t + 10)

    assert await stored_use(env) == {
        USER_USE + USER: {
            "starts": [t - 1_000, t, t, t + 1, t + 2, t + 3],
            "failed_core_hours": [[t + 4, 1.5]],
        },
        APP_USE + APP: {"starts": [t - 1_000, t, t, t + 2], "failed_core_hours": []},
        APP_USE + NEW_APP: {"starts": [t + 1, t + 3], "failed_core_hours": []},
    }
    assert held_use(second) == await stored_use(env)
    assert not second.dirty and not second.added


async def test_one_writer_saving_again_duplicates_nothing(env: Env) -> None:
    t = now_ms(env)
    state = await PolicyState.load(env.deps.store)
    state.record_start(USER, APP, t)
    state.record_failed_attempt(USER, t, 2.0)
    await state.save(env.deps.store, t)
    await state.save(env.deps.store, t)
    state.record_start(USER, APP, t + 1)
    await state.save(env.deps.store, t + 1)

    assert await stored_use(env) == {
        USER_USE + USER: {"starts": [t, t + 1], "failed_core_hours": [[t, 2.0]]},
        APP_USE + APP: {"starts": [t, t + 1], "failed_core_hours": []},
    }
    assert held_use(state) == await stored_use(env)


async def test_a_writer_that_loses_every_try_warns_once_and_keeps_its_entries(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Another writer adds a start before each try: after the last one the key is named in one
    warning, and the state holds what is stored plus its own start, so a later save stores both."""
    t = now_ms(env)
    store = env.deps.store
    state = await PolicyState.load(store)
    state.record_start(USER, APP, t)
    put_states_if = store.put_states_if
    others = iter(range(t + 1, t + 1 + constants.BUDGET_WRITE_TRIES))

    async def another_writer_first(writes: Sequence[StateWrite]) -> dict[str, str]:
        stored = (await store.get_states(USER_USE)).get(USER_USE + USER, {"starts": []})
        await store.put_states({USER_USE + USER: {"starts": [*stored["starts"], next(others)]}})
        return await put_states_if(writes)

    caplog.set_level(logging.WARNING, logger="ee_retry.service.policy.state")
    with monkeypatch.context() as patch:
        patch.setattr(store, "put_states_if", another_writer_first)
        await state.save(store, t)

    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert USER_USE + USER in warning
    others_starts = list(range(t + 1, t + 1 + constants.BUDGET_WRITE_TRIES))
    assert sorted(state.user_use[USER]["starts"]) == [t, *others_starts]
    assert state.dirty == {USER_USE + USER}
    await state.save(store, t)
    assert (await stored_use(env))[USER_USE + USER]["starts"] == [t, *others_starts]
