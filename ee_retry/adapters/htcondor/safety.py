"""Checks that keep every value we hand to HTCondor from adding or changing a submit command.

The submit language has no escaping: a newline starts a new command (or a `queue` statement),
`$(...)`, `$ENV(...)` and friends are expanded recursively even inside quoted strings, and itemdata
columns are split on the ASCII unit separator. So identifiers are checked against strict patterns,
free text is refused when it carries a control character or a `$`, and ClassAd strings are quoted with
`classad2.quote`. Every refusal raises `InvalidParams` before any schedd call; the token's value never
appears in a message.
"""

from __future__ import annotations

import re

from ee_retry.domain.ids import is_job_id
from ee_retry.errors import InvalidParams

USER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")  # KBase user names; also a concurrency limit name
MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")  # a KBase module or function name
TOKEN_RE = re.compile(r"[A-Za-z0-9._~+/=-]{1,4096}")  # no space or quote: it sits in `environment`
OP_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
PATH_RE = re.compile(r"/?[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*/?")
URL_RE = re.compile(r"https?://[A-Za-z0-9._~:/?#\[\]@!&*+,;=%-]+")
ACCOUNTING_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}")
SCHEDULER_ID_RE = re.compile(r"\d{1,10}\.\d{1,10}")

MAX_FREE_TEXT_CHARS = 512  # app ids are short; a longer value is not an app id
MAX_LIST_TEXT_CHARS = 65_536  # a job's input object refs, comma-joined: thousands of refs, as ee2 allowed
# Control characters and '$' would be interpreted; a lone surrogate cannot be encoded for the schedd at all.
_UNSAFE_FREE_TEXT = re.compile(r"[\x00-\x1f\x7f$\ud800-\udfff]")


def check_identifier(job_id: str, field: str, value: object, pattern: re.Pattern[str]) -> str:
    """Return `value` if it is a str matching `pattern` in full; else refuse, naming the field."""
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise InvalidParams(f"job {job_id}: {field} {_shown(value)} is not allowed in a scheduler submission")
    return value


def check_free_text(job_id: str, field: str, value: object, max_chars: int = MAX_FREE_TEXT_CHARS) -> str:
    """Return `value` if it can be quoted safely: a str without control characters or '$'."""
    if not isinstance(value, str) or len(value) > max_chars:
        raise InvalidParams(f"job {job_id}: {field} must be a string of at most {max_chars} chars")
    if _UNSAFE_FREE_TEXT.search(value):
        raise InvalidParams(
            f"job {job_id}: {field} {_shown(value)} contains a control character, '$' or a lone "
            "surrogate, which the scheduler's submit language would interpret or cannot carry"
        )
    return value


def check_job_id(field: str, value: object, owner: str | None = None) -> str:
    """Return a 24-hex id; refuse anything else."""
    if not is_job_id(value):
        where = f"job {owner}: " if owner else ""
        raise InvalidParams(f"{where}{field} {_shown(value)} is not a 24-character hex id")
    return str(value)


def check_count(job_id: str, field: str, value: object, minimum: int) -> int:
    """Return a plain int >= minimum (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidParams(f"job {job_id}: {field} must be an integer >= {minimum}, not {_shown(value)}")
    return value


def check_token(job_id: str, value: str | None) -> str:
    """Return the token (or "" when there is none); never echo it."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or TOKEN_RE.fullmatch(value) is None:
        raise InvalidParams(f"job {job_id}: the token has characters a scheduler submission cannot carry")
    return value


def check_setting(name: str, value: str, pattern: re.Pattern[str]) -> str:
    """Return a configuration value that goes verbatim into the submit description."""
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise ValueError(f"{name} {value!r} is not safe in an HTCondor submit description")
    return value


_EE2_CLUSTER_RE = re.compile(r"\d{1,10}")  # ee2 recorded a bare cluster id: one proc per cluster


def check_scheduler_ids(ids: object) -> list[str]:
    """Return the ids as a list of "cluster.proc" strings (an ee2 job's bare cluster id "N" is its
    only proc "N.0"); refuse anything else."""
    if isinstance(ids, str):
        raise InvalidParams("scheduler ids must be a list of 'cluster.proc' strings, not one string")
    if not isinstance(ids, list | tuple):
        raise InvalidParams("scheduler ids must be a list of 'cluster.proc' strings")
    out: list[str] = []
    for sid in ids:
        if isinstance(sid, str) and _EE2_CLUSTER_RE.fullmatch(sid):
            sid = f"{sid}.0"
        if not isinstance(sid, str) or SCHEDULER_ID_RE.fullmatch(sid) is None:
            raise InvalidParams(f"scheduler id {_shown(sid)} is not of the form 'cluster.proc'")
        out.append(sid)
    return out


def _shown(value: object) -> str:
    """A short repr for error messages."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
