"""Automatic retry policies in the service: the policy file, the decision and start passes, the loop."""
