"""Fakes shipped with the package, behind the same ports as the real adapters.

Submodules: `mongo` (async facade over mongomock-ng), `scheduler` (in-memory scheduler with fault
hooks), `schedd` (a fake htcondor2 Schedd), `kbase` (fake auth2, workspace and catalog HTTP apps),
`clock` (a settable clock). Import the submodule you need; this package imports none of them, so the
fakes' own dependencies load only where they are used.
"""
