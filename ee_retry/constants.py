"""Limits and defaults, each with its unit in the name and the reason beside it."""

# Wire limits: bound the work one request can ask for.
MAX_BODY_BYTES = 1_048_576  # 1 MiB; a larger request body is refused before it is parsed
MAX_JOB_IDS_PER_CALL = 1_000  # ids in one check_jobs / retry_jobs call; bounds one request's store work
MAX_BATCH_JOBS = 1_000  # children in one run_job_batch; one scheduler transaction stays reasonable
HEADER_TIMEOUT_S = 10.0  # a connection must send a request's full headers this soon after opening or idling
BODY_TIMEOUT_S = 30.0  # a request's whole body must arrive this soon after its headers (1 MiB at ~35 KB/s)
KEEP_ALIVE_S = 5.0  # an idle keep-alive connection is closed after this long
MAX_CONNECTIONS = 1_000  # open client connections; more are answered 503 and closed (file descriptors)
MAX_IN_FLIGHT = 100  # requests being handled at once; more are answered 503 at once (memory: 1 MiB each)
IDEMPOTENCY_KEY_MAX_LEN = 255  # as in the retry contract (spec/)
APP_NAME_MAX_LEN = 255  # a breaker's app (Module.method) named by reset_retry_breaker and its REST route
IDEMPOTENCY_TTL_S = 86_400  # a key replays its first answer for at least 24 h
IDEMPOTENCY_WAIT_S = 30.0  # a concurrent caller with the same key waits this long for the first answer

# Retry selection.
RETRY_FAILED_DEFAULT_LIMIT = 100  # retry_failed_jobs default cap
RETRY_FAILED_MAX_LIMIT = 1_000  # same bound as retry_jobs

# Identity and permissions caches.
AUTH_CACHE_TTL_S = 60.0  # a revoked token stops working within a minute
WORKSPACE_CACHE_TTL_S = 30.0  # workspace sharing changes show up within half a minute
CATALOG_CACHE_TTL_S = 300.0  # commits are immutable; tags move rarely
FILE_RECHECK_S = 1.0  # the tokens, workspaces and catalog files are looked at (a stat) at most this often
HTTP_TIMEOUT_S = 10.0  # calls to KBase auth, workspace and catalog

# Scheduler.
SCHEDULER_CALL_TIMEOUT_S = 30.0  # one schedd call in the worker process; a hung schedd fails the call
STORE_CALL_TIMEOUT_S = 20.0  # one MongoDB call (pymongo timeoutMS); a hung server fails the call
ABANDONED_RETRY_S = 1.0  # how often an instance retries finishing the operations its requests left
ABANDONED_RETRY_MAX_S = 60.0  # a failing one is tried again after 1, 2, 4, ... s, at most this apart
SUBMIT_GRACE_S = 120.0  # reconcile leaves an operation this young alone: its submit may still be under way
ABANDONED_GIVE_UP_S = SUBMIT_GRACE_S  # failing this long, it is left to reconcile, which owns it by then
POLL_INTERVAL_S = 10.0  # status poller period for HTCondor
LOCAL_POLL_INTERVAL_S = 1.0  # status sync period for the local executor
INSTANCE_CLAIM_TTL_S = 30.0  # a local executor's claim on its store lapses this long after its holder dies
INSTANCE_CLAIM_RENEW_S = 10.0  # the live instance renews its claim this often (three tries per TTL)
LEADER_LEASE_TTL_S = 30.0  # poller leadership lapses this long after its holder stops renewing

# Output kept from a finished local job.
OUTPUT_TAIL_CHARS = 4_000  # tail of stdout kept in job_output and of stderr in errormsg

# Logs.
MAX_LOG_LINES_PER_CALL = 10_000  # add_job_logs accepts at most this many lines per call
DEFAULT_LOG_PAGE = 1_000  # get_job_logs default page size
MAX_LOG_PAGE_LINES = 10_000  # get_job_logs ceiling on `limit`; a larger limit gets this many lines
MAX_LOG_LINE_CHARS = 4_096  # a longer log line is stored cut, so one page stays within ~40 MB

# Listings.
MAX_DATE_RANGE_RESULTS = 10_000  # check_jobs_date_range_* limit ceiling
MAX_WORKSPACE_JOBS = 10_000  # check_workspace_jobs answers at most this many (a workspace's newest jobs)

# Reaper defaults.
REAPER_CREATED_MAX_AGE_S = 3_600  # created jobs older than 1 h with no scheduler proc are cancelled
REAPER_QUEUED_MAX_AGE_S = 14 * 86_400  # queued jobs older than 14 days are cancelled
REAPER_LEASE_TTL_S = 600  # a reaper run holds its lease at most this long
LOCAL_REAPER_INTERVAL_S = 600.0  # the service's own reaper pass with the local executor (0: off)

# Automatic retry policies.
AUTO_RETRY_UNCOUNTED_MAX = 20  # attempts of one job a `count = false` rule may start; stops endless loops
AUTO_RETRY_MAX_DUE_PER_PASS = 10_000  # due automatic retries one start pass looks at; the rest wait a pass
AUTO_RETRY_LOOKBACK_S = 3_600  # a fresh lease holder decides failures this old or newer
BREAKER_RECHECK_S = 10.0  # retries paused behind a half-open breaker's probe look again this often
AUTO_RETRY_RESCAN_S = 30.0  # each pass reads finished jobs again this far back (clock skew, slow writes)
BUDGET_WRITE_TRIES = 5  # compare-and-set tries of one budget-use document per save; then the next save
COST_MAX_JOBS = 100_000  # job_stats' cost figures read at most this many jobs (newest first)
