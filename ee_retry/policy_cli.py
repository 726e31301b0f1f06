"""`ee-retry-policy`: check an automatic retry policy file, or replay recorded failures through it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ee_retry.domain.policy.describe import policy_dict, policy_lines
from ee_retry.domain.policy.model import Policy
from ee_retry.domain.policy.parse import PolicyError, parse_policy_text

EXIT_INVALID = 1  # the file does not validate (or cannot be read)

DESCRIPTION = """\
Automatic retry policies (EE_RETRY_POLICY_FILE). 'check FILE' validates a policy file and prints its
rules in matching order; it exits 1 and names each rule and key at fault when the file is not valid.
"""


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="ee-retry-policy", description=DESCRIPTION)
    sub = ap.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate a policy file and print its rules")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true", help="print the policy as one JSON object")
    return ap


def read_policy(path: Path) -> Policy:
    """The policy in `path`; PolicyError when it cannot be read or does not validate."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([f"cannot read {path.name}: {exc.__class__.__name__}"]) from None
    return parse_policy_text(text)


def check(path: Path, as_json: bool) -> int:
    try:
        policy = read_policy(path)
    except PolicyError as exc:
        print(f"{path}: not a valid policy:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_INVALID
    if as_json:
        print(json.dumps(policy_dict(policy), indent=2))
    else:
        print(f"{path}: valid policy")
        for line in policy_lines(policy):
            print(f"  {line}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "check":
        return check(args.file, args.json)
    return EXIT_INVALID  # argparse refuses unknown commands before this


if __name__ == "__main__":
    raise SystemExit(main())
