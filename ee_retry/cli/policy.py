"""`ee-retry-policy`: check an automatic retry policy file, or replay recorded failures through it."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ee_retry.domain.policy.describe import policy_dict, policy_lines
from ee_retry.domain.policy.model import Policy
from ee_retry.domain.policy.parse import PolicyError, parse_policy_text
from ee_retry.errors import EERetryError
from ee_retry.service.policy.simulate import Simulation, simulate
from ee_retry.settings import Settings
from ee_retry.wiring import build_store

EXIT_INVALID = 1  # the file does not validate (or cannot be read)

DESCRIPTION = """\
Automatic retry policies (EE_RETRY_POLICY_FILE). 'check FILE' validates a policy file and prints its
rules in matching order; it exits 1 and names each rule and key at fault when the file is not valid.
'simulate FILE' replays the failures recorded in the store the EE_RETRY_* environment configures
(the service's own) through the policy, writing nothing, and prints per rule what it would have done.
"""
EXIT_CONFIG = 2  # bad options or environment
UNITS_S = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ee-retry-policy", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate a policy file and print its rules")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true", help="print the policy as one JSON object")
    simulate = sub.add_parser("simulate", help="replay recorded failures through a policy, writing nothing")
    simulate.add_argument("file", type=Path)
    simulate.add_argument(
        "--since", type=duration_s, default=duration_s("7d"), help="how far back: 90m, 12h, 7d (default 7d)"
    )
    simulate.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def duration_s(text: str) -> float:
    """'7d', '12h', '90m', '30s' or a number of seconds."""
    text = text.strip().lower()
    unit = UNITS_S.get(text[-1:])
    number = text[:-1] if unit is not None else text
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use 90m, 12h, 7d)") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("a duration must be positive")
    return value


def read_policy(path: Path) -> Policy:
    """The policy in `path`; PolicyError when it cannot be read or does not validate."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([f"cannot read {path.name}: {exc.__class__.__name__}"]) from None
    return parse_policy_text(text)


def _valid_policy(path: Path) -> Policy | None:
    """The policy in `path`, or None after printing why it is not valid."""
    try:
        return read_policy(path)
    except PolicyError as exc:
        print(f"{path}: not a valid policy:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None


def check(path: Path, as_json: bool) -> int:
    policy = _valid_policy(path)
    if policy is None:
        return EXIT_INVALID
    if as_json:
        print(json.dumps(policy_dict(policy), indent=2))
    else:
        print(f"{path}: valid policy")
        for line in policy_lines(policy):
            print(f"  {line}")
    return 0


HEADER = (
    "rule",
    "matched",
    "would start",
    "held: budget",
    "held: breaker",
    "stopped",
    "exhausted",
    "core-hours",
)


def simulate_command(path: Path, since_s: float, as_json: bool) -> int:
    policy = _valid_policy(path)
    if policy is None:
        return EXIT_INVALID
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"ee-retry-policy: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not settings.mongo_uri and not (settings.data_dir / "ee_retry.sqlite3").exists():
        print("ee-retry-policy: no embedded store in EE_RETRY_DATA_DIR: nothing recorded", file=sys.stderr)
        return EXIT_CONFIG
    try:
        result = asyncio.run(_simulate(settings, policy, time.time() - since_s))
    except EERetryError as exc:
        print(f"ee-retry-policy: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    rows = [HEADER] + [
        (name, *(str(v) for v in list(t.to_dict().values())[:-1]), f"{t.core_hours:.2f}")
        for name, t in result.rules.items()
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    print(
        f"{result.failures} failures since {time.strftime('%Y-%m-%d %H:%M', time.gmtime(result.since))} UTC"
    )
    for row in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return 0


async def _simulate(settings: Settings, policy: Policy, since: float) -> Simulation:
    store = build_store(settings)
    try:
        return await simulate(store, policy, since)
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "check":
        return check(args.file, args.json)
    return simulate_command(args.file, args.since, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
