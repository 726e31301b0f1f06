"""The soak: the real service under concurrent clients, killed and restarted at random, then checked.

`scripts/soak` (`python -m ee_retry.soak`, console entry `ee-retry-soak`) starts `python -m ee_retry` on a
free loopback port over a fresh data folder, runs concurrent clients (run_job of failing and
succeeding demo apps, run_job_batch, retry_job and retry_jobs with and without idempotency keys,
cancel_job, check_job(s)), sends the service SIGKILL at random moments and starts it again, and checks
the retry invariants while it runs and after a drain. Modules: `service` (the processes), `traffic`
(the clients and their tally), `invariants` (the checks, pure functions of job records), `run` (the
timeline and the table), `cli` (options and exit status).
"""
