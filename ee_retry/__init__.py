"""ee-retry: an ee2-compatible job service with crash-safe, idempotent retries."""

__version__ = "0.1.0"
