"""`scripts/bench http`: the service's HTTP path against a bare Starlette app under the same uvicorn.

Modules: `baseline` (the bare app), `load` (the fallback load generator), `wrk` (driving wrk when it
is installed), `seed` (the jobs and logs the measured calls read), `run` (the measurement and its table).
"""
