"""The REST API under /api/v1: a thin face over the service functions JSON-RPC calls."""
