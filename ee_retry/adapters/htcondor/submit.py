"""The HTCondor submit description and itemdata rows for one operation: a pure function of its inputs.

One operation is one cluster: the description holds what every proc shares (runner, service URL,
accounting, policy, the operation id); each row holds one job's values, substituted into `$(...)`
references (proc i is row i). It follows ee2's submit (arguments, resources, client-group
requirements, concurrency limit, `on_exit_hold`, environment, the `KB_*` ClassAd attributes, logs)
and adds `ee_job_id` / `ee_op_id` so every proc can be found again by job or by operation, and a hold
reason that names the exit code or signal, so a failed job's errormsg says how its process ended even
when the runner could not report it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import classad2

from ee_retry.adapters.htcondor import safety
from ee_retry.domain.values import SubmitSpec
from ee_retry.errors import InvalidParams

MAX_JOB_RUNTIME_S = 604_800  # as ee2: a job running longer than 7 days is held (then failed)
JOB_LEASE_DURATION_S = 43_200  # as ee2: a job survives 12 h without contact from its shadow
MAX_JOB_RETIREMENT_S = 43_200  # as ee2: a draining node lets a job finish for up to 12 h

# As ee2, a process that exits non-zero or is killed by a signal (ExitCode is then undefined) is held.
# The schedd evaluates the reason and subcode when it holds the job: HoldReason says how the process
# ended (the default would only quote the expression) and HoldReasonSubCode is the code or signal.
ON_EXIT_HOLD = "ExitCode =!= 0"
ON_EXIT_HOLD_REASON = (
    'ifThenElse(ExitBySignal, strcat("The job was killed by signal ", ExitSignal), '
    'strcat("The job exited with code ", ExitCode))'
)
ON_EXIT_HOLD_SUBCODE = "ifThenElse(ExitBySignal, ExitSignal, ExitCode)"

# Itemdata columns, in order; the job id comes first so no row line can start with '#' or be ')'.
ROW_KEYS: tuple[str, ...] = (
    "job_id",
    "kb_user",
    "kb_account",  # the accounting group user: the owner, or run_job_concierge's account_group
    "kb_clientgroup",
    "kb_cpus",
    "kb_memory_mb",
    "kb_disk_gb",
    "kb_module",
    "kb_function",
    "kb_app_id",  # a ClassAd literal: a quoted string or `undefined`
    "kb_app_module",  # a ClassAd literal
    "kb_wsid",  # a ClassAd literal: an integer or `undefined`
    "kb_parent_job_id",  # a ClassAd literal
    "kb_batch_id",  # a ClassAd literal
    "kb_source_ws_objects",  # a ClassAd literal: comma-separated workspace object refs, or `undefined`
    "kb_token",  # goes only into `environment`
)
UNDEFINED = "undefined"


@dataclass(frozen=True)
class SubmitParams:
    """What every submission of this service shares (from Settings)."""

    runner: str  # executable HTCondor runs: args <job_id> <service_url>
    service_url: str  # where the runner calls back
    accounting_prefix: str = "ee2"  # accounting group; the user is the group user: <prefix>.<user>
    log_dir: str = "runner_logs"  # HTCondor user log, stdout and stderr of each proc (submit side)
    initial_dir: str | None = None  # job's initial dir on the submit side; None: the worker's cwd
    transfer_input_files: tuple[str, ...] = ()  # e.g. runner.py, sent along with each job

    def __post_init__(self) -> None:
        safety.check_setting("condor runner", self.runner, safety.PATH_RE)
        safety.check_setting("service URL", self.service_url, safety.URL_RE)
        safety.check_setting("accounting prefix", self.accounting_prefix, safety.ACCOUNTING_RE)
        safety.check_setting("condor log dir", self.log_dir, safety.PATH_RE)
        if self.initial_dir is not None:
            safety.check_setting("condor initial dir", self.initial_dir, safety.PATH_RE)
        for path in self.transfer_input_files:
            safety.check_setting("transfer input file", path, safety.PATH_RE)


def build_submit(
    specs: Sequence[SubmitSpec], op_id: str, params: SubmitParams, hold: bool
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The description (shared) and one itemdata row per spec, in order; refuses unsafe values.

    Raises InvalidParams before anything is built if any value could change the submission.
    """
    if not specs:
        raise InvalidParams("a submission needs at least one job")
    if not isinstance(op_id, str) or safety.OP_ID_RE.fullmatch(op_id) is None:
        raise InvalidParams("the operation id is not allowed in a scheduler submission")
    rows = [build_row(spec) for spec in specs]
    seen: set[str] = set()
    for row in rows:
        if row["job_id"] in seen:
            raise InvalidParams(f"job {row['job_id']} appears twice in one submission")
        seen.add(row["job_id"])
    return build_description(op_id, params, hold), rows


def build_description(op_id: str, params: SubmitParams, hold: bool) -> dict[str, str]:
    """The submit commands every proc of the cluster shares; per-job values are `$(...)` references."""
    url = params.service_url
    environment = " ".join(
        (
            "JOB_ID=$(job_id)",
            f"EE_RETRY_SERVICE_URL={url}",
            "KB_AUTH_TOKEN=$(kb_token)",
            "CLIENTGROUP=$(kb_clientgroup)",
            "CONDOR_ID=$(Cluster).$(Process)",
        )
    )
    desc: dict[str, str] = {
        "universe": "vanilla",
        "executable": params.runner,
        "arguments": f"$(job_id) {url}",
        "batch_name": "$(job_id)",
        "request_cpus": "$(kb_cpus)",
        "request_memory": "$(kb_memory_mb)MB",
        "request_disk": "$(kb_disk_gb)GB",
        "requirements": '(CLIENTGROUP == "$(kb_clientgroup)")',
        "concurrency_limits": "$(kb_user)",
        "accounting_group": params.accounting_prefix,
        "accounting_group_user": "$(kb_account)",
        "on_exit_hold": ON_EXIT_HOLD,
        "on_exit_hold_reason": ON_EXIT_HOLD_REASON,
        "on_exit_hold_subcode": ON_EXIT_HOLD_SUBCODE,
        "periodic_hold": f"(RemoteWallClockTime > {MAX_JOB_RUNTIME_S})",
        "job_lease_duration": str(JOB_LEASE_DURATION_S),
        "max_job_retirement_time": str(MAX_JOB_RETIREMENT_S),
        "getenv": "false",
        "environment": f'"{environment}"',
        "should_transfer_files": "YES",
        "when_to_transfer_output": "ON_EXIT_OR_EVICT",
        "log": f"{params.log_dir}/$(Cluster).$(Process).log",
        "output": f"{params.log_dir}/$(job_id).out",
        "error": f"{params.log_dir}/$(job_id).err",
        "MY.ee_job_id": '"$(job_id)"',
        "MY.ee_op_id": classad2.quote(op_id),
        "MY.ee_batch_id": "$(kb_batch_id)",
        "MY.KB_PARENT_JOB_ID": "$(kb_parent_job_id)",
        "MY.KB_MODULE_NAME": '"$(kb_module)"',
        "MY.KB_FUNCTION_NAME": '"$(kb_function)"',
        "MY.KB_APP_ID": "$(kb_app_id)",
        "MY.KB_APP_MODULE_NAME": "$(kb_app_module)",
        "MY.KB_WSID": "$(kb_wsid)",
        "MY.KB_SOURCE_WS_OBJECTS": "$(kb_source_ws_objects)",
        "MY.KB_CLIENTGROUP": '"$(kb_clientgroup)"',
    }
    if params.initial_dir is not None:
        desc["initialdir"] = params.initial_dir
    if params.transfer_input_files:
        desc["transfer_input_files"] = ",".join(params.transfer_input_files)
    if hold:
        desc["hold"] = "true"
    return desc


def build_row(spec: SubmitSpec) -> dict[str, str]:
    """One job's itemdata row; every value checked or quoted so it cannot leave its `$(...)` slot."""
    job_id = safety.check_job_id("job id", spec.job_id)
    reqs = spec.requirements
    module, function = _split_method(job_id, spec.method)
    parent = spec.parent_job_id if spec.parent_job_id is not None else spec.batch_id
    row = {
        "job_id": job_id,
        "kb_user": safety.check_identifier(job_id, "user", spec.user, safety.USER_RE),
        "kb_account": safety.check_identifier(
            job_id, "account group", reqs.account_group or spec.user, safety.USER_RE
        ),
        "kb_clientgroup": safety.check_identifier(
            job_id, "client group", reqs.client_group, safety.CLIENT_GROUP_RE
        ),
        "kb_cpus": str(safety.check_count(job_id, "request_cpus", reqs.cpus, 1)),
        "kb_memory_mb": str(safety.check_count(job_id, "request_memory", reqs.memory_mb, 1)),
        "kb_disk_gb": str(safety.check_count(job_id, "request_disk", reqs.disk_gb, 1)),
        "kb_module": module,
        "kb_function": function,
        "kb_app_id": _quoted_or_undefined(job_id, "app id", spec.app_id),
        "kb_app_module": _quoted_or_undefined(job_id, "app id", _app_module(spec.app_id)),
        "kb_wsid": UNDEFINED if spec.wsid is None else str(safety.check_count(job_id, "wsid", spec.wsid, 1)),
        "kb_parent_job_id": _quoted_id(job_id, "parent job id", parent),
        "kb_batch_id": _quoted_id(job_id, "batch id", spec.batch_id),
        "kb_source_ws_objects": _quoted_or_undefined(
            job_id,
            "source_ws_objects",
            ",".join(spec.source_ws_objects) or None,
            safety.MAX_LIST_TEXT_CHARS,
        ),
        "kb_token": safety.check_token(job_id, spec.token),
    }
    return {key: row[key] for key in ROW_KEYS}


def _split_method(job_id: str, method: object) -> tuple[str, str]:
    """'Module.function' -> ('Module', 'function'), both strict identifiers."""
    if not isinstance(method, str) or method.count(".") != 1:
        raise InvalidParams(f"job {job_id}: method must be 'Module.function'")
    module, function = method.split(".")
    safety.check_identifier(job_id, "module name", module, safety.MODULE_RE)
    safety.check_identifier(job_id, "function name", function, safety.MODULE_RE)
    return module, function


def _app_module(app_id: str | None) -> str | None:
    """The module part of an app id ('Module/app' or 'Module.app'), as ee2's KB_APP_MODULE_NAME."""
    if not app_id:
        return None
    parts = re.split(r"[/.]", app_id, maxsplit=1)
    return parts[0] if len(parts) == 2 and parts[0] else None


def _quoted_or_undefined(
    job_id: str, field: str, value: str | None, max_chars: int = safety.MAX_FREE_TEXT_CHARS
) -> str:
    if value is None or value == "":
        return UNDEFINED
    return str(classad2.quote(safety.check_free_text(job_id, field, value, max_chars)))


def _quoted_id(job_id: str, field: str, value: str | None) -> str:
    if value is None:
        return UNDEFINED
    return str(classad2.quote(safety.check_job_id(field, value, owner=job_id)))
