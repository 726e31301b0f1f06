"""State documents (collection ee_retry_states) on MongoDB: read by key prefix, written with a new
revision each time, and written conditionally on the revision a reader saw.

A conditional write is one bulk write of replacements filtered on the key and the expected revision
(a missing field matches None); one that expects no document upserts, so a document written since
makes its insert collide on `_id` and it is not applied. When the counts do not show every write
applied, one read names the keys that carry the revisions this call wrote."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ReplaceOne
from pymongo.errors import BulkWriteError

from ee_retry.adapters.store import common, mongo_docs
from ee_retry.domain.values import STATE_REV, StateWrite


async def get_states(states: Any, prefix: str) -> dict[str, dict[str, Any]]:
    with mongo_docs.store_errors():
        docs = await states.find({"_id": {"$regex": "^" + re.escape(prefix)}}).to_list(None)
    return {str(d.pop("_id")): d for d in docs}


async def put_states(states: Any, docs: Mapping[str, Mapping[str, Any]]) -> None:
    ops = [ReplaceOne({"_id": key}, common.state_doc(doc)[0], upsert=True) for key, doc in docs.items()]
    if ops:
        with mongo_docs.store_errors():
            await states.bulk_write(ops, ordered=False)


async def put_states_if(states: Any, writes: Sequence[StateWrite]) -> dict[str, str]:
    stored = {w.key: common.state_doc(w.doc) for w in writes}
    ops = [
        ReplaceOne({"_id": w.key, STATE_REV: w.expected}, stored[w.key][0], upsert=w.expected is None)
        for w in writes
    ]
    revs = {key: rev for key, (_, rev) in stored.items()}
    if not ops:
        return {}
    with mongo_docs.store_errors():
        try:
            result = await states.bulk_write(ops, ordered=False)
            if result.matched_count + result.upserted_count == len(ops):
                return revs
        except BulkWriteError as exc:
            mongo_docs.duplicate_indexes(exc.details)  # a document written since: not applied
        found = await states.find({"_id": {"$in": list(revs)}}, {STATE_REV: 1}).to_list(None)
    return {str(d["_id"]): revs[str(d["_id"])] for d in found if d.get(STATE_REV) == revs[str(d["_id"])]}
