"""HTCondor scheduler adapter: submit description building, schedd worker processes, the Scheduler."""

from __future__ import annotations

from ee_retry.adapters.htcondor.scheduler import HTCondorScheduler
from ee_retry.adapters.htcondor.submit import SubmitParams, build_submit

__all__ = ["HTCondorScheduler", "SubmitParams", "build_submit"]
