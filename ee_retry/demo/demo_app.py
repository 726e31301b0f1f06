"""The demo module `Demo`: a tiny program the local executor runs as a job.

It reads the job's method from `EE_RETRY_METHOD` (e.g. "Demo.succeed") and its params from
`EE_RETRY_PARAMS` (JSON; KBase params are a list whose first element is usually an object) and
behaves as the method says, so every job outcome can be produced on purpose:

    Demo.succeed            print one JSON result line echoing the params; exit 0
    Demo.fail               print an error on stderr (the `message` param, if given); exit 1, or the
                            `exit_code` param (1..255); with `signal` (e.g. 9), kill itself with it
    Demo.fail_times         fail like Demo.fail while the count kept in the file `path` is at most
                            `times`, then succeed (each run adds one to the count)
    Demo.sleep              wait `seconds` (a number >= 0), then succeed
    Demo.fail_unless_file   fail with "missing input: <path>" unless the `path` param exists,
                            then succeed; create the file and retry the job to see a retry work

An unknown method or unusable params: a message on stderr and exit 2. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

USAGE_EXIT = 2  # unknown method or unusable params


class UsageError(Exception):
    """The job asked for something this program cannot do."""


def options(params: Any) -> dict[str, Any]:
    """The named options: the first element of a KBase params list, or the params object itself."""
    if isinstance(params, list) and params and isinstance(params[0], dict):
        return params[0]
    if isinstance(params, dict):
        return params
    return {}


def succeed(method: str, params: Any) -> int:
    """Print a JSON-RPC style result line that echoes the params."""
    print(json.dumps({"version": "1.1", "result": [{"method": method, "params": params}]}), flush=True)
    return 0


def fail(method: str, params: Any) -> int:
    """Fail on purpose with exit code 1 or the `exit_code` option, or die of the `signal` option."""
    opts = options(params)
    code = opts.get("exit_code", 1)
    if isinstance(code, bool) or not isinstance(code, int) or not 1 <= code <= 255:
        raise UsageError(f"exit_code must be an integer from 1 to 255, not {code!r}")
    message = opts.get("message", f"{method}: failing on purpose with exit code {code}")
    print(str(message), file=sys.stderr, flush=True)
    sig = opts.get("signal")
    if sig is not None:
        if isinstance(sig, bool) or not isinstance(sig, int) or not 1 <= sig <= 64:
            raise UsageError(f"signal must be an integer from 1 to 64, not {sig!r}")
        os.kill(os.getpid(), sig)
    return code


def fail_times(method: str, params: Any) -> int:
    """Fail (as Demo.fail) the first `times` runs, counted in the file `path`; then succeed."""
    opts = options(params)
    path, times = opts.get("path"), opts.get("times", 1)
    if not isinstance(path, str) or not path:
        raise UsageError(f"path must be a non-empty string, not {path!r}")
    if isinstance(times, bool) or not isinstance(times, int) or times < 0:
        raise UsageError(f"times must be an integer >= 0, not {times!r}")
    try:
        with open(path, encoding="utf-8") as f:
            count = int(f.read().strip() or 0) + 1
    except FileNotFoundError:
        count = 1
    with open(path, "w", encoding="utf-8") as f:
        f.write(str(count))
    return fail(method, params) if count <= times else succeed(method, params)


def sleep(method: str, params: Any) -> int:
    """Wait `seconds`, then succeed."""
    seconds = options(params).get("seconds", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise UsageError(f"seconds must be a number >= 0, not {seconds!r}")
    time.sleep(seconds)
    return succeed(method, params)


def fail_unless_file(method: str, params: Any) -> int:
    """Fail unless the file named by `path` exists, then succeed."""
    path = options(params).get("path")
    if not isinstance(path, str) or not path:
        raise UsageError(f"path must be a non-empty string, not {path!r}")
    if not os.path.exists(path):
        print(f"missing input: {path}", file=sys.stderr, flush=True)
        return 1
    return succeed(method, params)


METHODS: dict[str, Callable[[str, Any], int]] = {
    "Demo.succeed": succeed,
    "Demo.fail": fail,
    "Demo.sleep": sleep,
    "Demo.fail_unless_file": fail_unless_file,
    "Demo.fail_times": fail_times,
}


def main(environ: Mapping[str, str] | None = None) -> int:
    """Run the method the environment names; return the exit code."""
    env = os.environ if environ is None else environ
    method = env.get("EE_RETRY_METHOD", "")
    run = METHODS.get(method)
    if run is None:
        known = ", ".join(sorted(METHODS))
        print(f"unknown method {method!r}; this module knows {known}", file=sys.stderr)
        return USAGE_EXIT
    try:
        params = json.loads(env.get("EE_RETRY_PARAMS") or "[]")
    except ValueError:
        print("EE_RETRY_PARAMS is not valid JSON", file=sys.stderr)
        return USAGE_EXIT
    try:
        return run(method, params)
    except UsageError as exc:
        print(f"{method}: {exc}", file=sys.stderr)
        return USAGE_EXIT


if __name__ == "__main__":
    sys.exit(main())
