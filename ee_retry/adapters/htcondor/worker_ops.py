"""The schedd operations a worker process runs: plain data in, plain data out.

Imported only inside worker processes (it loads htcondor2). Each function takes the schedd object and
a payload dict and returns something picklable: ClassAds are projected and evaluated to Python values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import classad2
import htcondor2


def submit(schedd: Any, payload: Mapping[str, Any]) -> dict[str, int]:
    """One transaction: build the Submit here (it does not pickle) and queue one proc per row."""
    description = htcondor2.Submit(dict(payload["description"]))
    rows = [dict(row) for row in payload["rows"]]
    result = schedd.submit(description, itemdata=iter(rows))
    return {
        "cluster": int(result.cluster()),
        "first_proc": int(result.first_proc()),
        "num_procs": int(result.num_procs()),
    }


def act(schedd: Any, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Release, remove or hold an explicit list of "cluster.proc" ids (never a constraint)."""
    ids = list(payload["ids"])
    if not ids or not all(isinstance(i, str) for i in ids):
        raise TypeError("act needs a non-empty list of 'cluster.proc' strings")
    action = htcondor2.JobAction[payload["action"]]
    # The bindings forward a reason only when it comes as (reason, code); a bare str is dropped.
    result = schedd.act(action, ids, (str(payload["reason"]), None))
    return _plain_ad(result, None) if result is not None else {}


def find(schedd: Any, payload: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Ads matching a constraint in the queue and (unless `history` is false) in the history."""
    constraint = str(payload["constraint"])
    projection = [str(p) for p in payload["projection"]]
    queue = _plain_ads(schedd.query(constraint, projection), projection)
    history: list[dict[str, Any]] = []
    if payload.get("history", True):
        since = payload.get("since")
        ads = (
            schedd.history(constraint, projection, -1, since)
            if since
            else schedd.history(constraint, projection)
        )
        history = _plain_ads(ads, projection)
    return {"queue": queue, "history": history}


def _plain_ads(ads: Iterable[Any], projection: Sequence[str]) -> list[dict[str, Any]]:
    return [_plain_ad(ad, projection) for ad in ads]


def _plain_ad(ad: Any, projection: Sequence[str] | None) -> dict[str, Any]:
    """A ClassAd's attributes, evaluated to str/int/float/bool/None."""
    names = list(ad.keys()) if projection is None else [p for p in projection if p in ad]
    return {name: _plain_value(ad.eval(name)) for name in names}


def _plain_value(value: Any) -> Any:
    if isinstance(value, classad2.Value):  # Undefined or Error
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


OPS: dict[str, Callable[[Any, Mapping[str, Any]], Any]] = {"submit": submit, "act": act, "find": find}
