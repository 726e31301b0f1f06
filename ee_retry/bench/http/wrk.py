"""Drive `wrk` (Debian's package) for one measurement, when it is installed: a Lua script sets the POST
body and headers; requests/s and the latency percentiles are read from its `--latency` report."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_PCT = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)
_TOTAL = re.compile(r"(\d+) requests in")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def available() -> bool:
    return shutil.which("wrk") is not None


def _lua(body: bytes, headers: Sequence[str]) -> str:
    text = body.decode()
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{text}]==]"]
    lines.append('wrk.headers["Content-Type"] = "application/json"')
    for header in headers:
        name, _, value = header.partition(":")
        lines.append(f'wrk.headers["{name.strip()}"] = [==[{value.strip()}]==]')
    return "\n".join(lines) + "\n"


def parse_report(text: str) -> dict[str, object]:
    """requests, requests_per_s, p50_ms, p99_ms and the non-2xx count from wrk's report."""
    pct = {int(m.group(1)): float(m.group(2)) * _UNITS_MS[m.group(3)] for m in _PCT.finditer(text)}
    rps, total, non_2xx = _RPS.search(text), _TOTAL.search(text), _NON_2XX.search(text)
    if rps is None or total is None or 50 not in pct or 99 not in pct:
        raise RuntimeError(f"could not read wrk's report: {text[-500:]}")
    return {
        "requests": int(total.group(1)),
        "requests_per_s": float(rps.group(1)),
        "p50_ms": pct[50],
        "p99_ms": pct[99],
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


def run_wrk(
    url: str, body: bytes, headers: Sequence[str], connections: int, seconds: float
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        script.write_text(_lua(body, headers))
        command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{max(1, round(seconds))}s"]
        command += ["--latency", "-s", str(script), url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return parse_report(done.stdout)
