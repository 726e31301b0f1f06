"""Automatic retry policies as pure rules: the policy file model and its validation, rule matching on
failure facts, backoff and memory, budgets, the per-app circuit breaker, and the decision."""
