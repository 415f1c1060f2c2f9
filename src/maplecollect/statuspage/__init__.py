"""The operator's window: the status page served by `maplecollect serve` at `/`.

docs/operations.md ("The status page") describes it.
"""
