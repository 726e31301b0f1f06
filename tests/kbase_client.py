"""A test client that calls the service as KBase's generated `execution_engine2` client does.

The generated client (kbase/execution_engine2, lib/installed_clients/) posts, for `ee2.name(a, b)`,
the body {"method": "execution_engine2.name", "params": [a, b], "version": "1.1", "id": "<digits>"}
with the token in an `AUTHORIZATION` header. An HTTP 500 whose Content-Type is exactly
`application/json` and whose body has "error" becomes `ServerError(**error)`, so the error object may
only carry name, code, message, data and error; any other 500 is ServerError("Unknown", 0, body),
another non-2xx status raises, and a 200 without "result" is an unknown server error. The answer is
None for an empty result, result[0] for one value, else the whole result list.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient


class ServerError(Exception):
    """What the generated client raises for a JSON-RPC error."""

    def __init__(self, name: str, code: int, message: str, data: Any = None, error: Any = None) -> None:
        super().__init__(message)
        self.name = name
        self.code = code
        self.message = "" if message is None else message
        self.data = data or error or ""


class EE2Client:
    """`EE2Client(test_client, token).check_jobs({...})`, and so on for every method name."""

    def __init__(self, http: TestClient, token: str | None = None, url: str = "/") -> None:
        self._http = http
        self._url = url
        self._headers = {"AUTHORIZATION": token} if token is not None else {}
        self.sent: list[dict[str, Any]] = []  # every body posted, for tests that check the wire

    def call(self, method: str, params: list[Any]) -> Any:
        body = {
            "method": f"execution_engine2.{method}",
            "params": params,
            "version": "1.1",
            "id": str(random.random())[2:],
        }
        self.sent.append(body)
        response = self._http.post(self._url, content=json.dumps(body), headers=self._headers)
        if response.status_code == 500:
            if response.headers.get("content-type") == "application/json":
                answer = response.json()
                if "error" in answer:
                    raise ServerError(**answer["error"])
            raise ServerError("Unknown", 0, response.text)
        response.raise_for_status()
        answer = response.json()
        if "result" not in answer:
            raise ServerError("Unknown", 0, "An unknown server error occurred")
        result = answer["result"]
        if not result:
            return None
        return result[0] if len(result) == 1 else result

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *params: self.call(method, list(params))
