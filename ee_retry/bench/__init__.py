"""Benchmarks, run with `scripts/bench` (`python -m ee_retry.bench`); their figures are in BENCHMARKS.md.

Modules: `cli` (the command line), `retry` (retry_jobs against ee2's serial loop: targets and table),
`paths` (the measured paths over metered fakes), `policy` (automatic retries of a burst of failures),
`http/` (the service's HTTP path against a bare Starlette app).
"""
