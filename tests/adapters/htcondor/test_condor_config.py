"""The HTCondor configuration files in condor_config/, read by the real htcondor2 configuration
parser (in a subprocess: the bindings' configuration is per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG_DIR = Path(__file__).resolve().parents[3] / "condor_config"
READ_PARAMS = (
    "import json, sys, htcondor2; print(json.dumps({k: htcondor2.param.get(k) for k in sys.argv[1:]}))"
)


def params_of(config: str, *names: str) -> dict[str, str | None]:
    """What htcondor2.param says for `names` when `config` is the whole HTCondor configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDOR_", "_CONDOR_"))}
    env["CONDOR_CONFIG"] = str(CONFIG_DIR / config)
    done = subprocess.run(
        [sys.executable, "-c", READ_PARAMS, *names], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, str | None] = json.loads(done.stdout)
    return answer


def test_only_the_service_may_read_the_submit_nodes_schedd_and_only_authenticated() -> None:
    """Job ads carry the owner's token in Environment, so READ on the schedd is not for everyone."""
    found = params_of(
        "submit-node.config", "ALLOW_READ_SCHEDD", "SEC_READ_AUTHENTICATION", "ALLOW_ADMINISTRATOR"
    )
    assert found["ALLOW_READ_SCHEDD"] == "<ee-retry-service-account>@<uid-domain>"
    assert found["SEC_READ_AUTHENTICATION"] == "REQUIRED"
    assert "root@*" in (found["ALLOW_ADMINISTRATOR"] or "")  # ADMINISTRATOR implies READ


@pytest.mark.parametrize("config", ["submit-node.config", "personal-pool.config"])
def test_both_schedd_configurations_refuse_jobs_without_ee_retry_ids(config: str) -> None:
    found = params_of(config, "SUBMIT_REQUIREMENT_NAMES", "SUBMIT_REQUIREMENT_EERETRYJOB")
    assert "EERETRYJOB" in (found["SUBMIT_REQUIREMENT_NAMES"] or "").split()
    assert found["SUBMIT_REQUIREMENT_EERETRYJOB"] == "(ee_job_id isnt undefined) && (ee_op_id isnt undefined)"
