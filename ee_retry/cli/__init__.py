"""Operator commands: `ee-retry-reaper` (`reaper`) and `ee-retry-policy` (`policy`)."""
