"""Solve runs: build the exact instance from the database, solve it outside the request, keep
instance and solution, and publish the visits in one transaction.

A run sees each plan at the version it had when the run started. Publishing skips (and reports)
plans cancelled or changed since; plans submitted during a run wait for the next one. Published
visits are pins for later runs, and a run cannot publish over a newer publication that overlaps
its scope and horizon. The record (what was published before the horizon, or carried out) is
history for a run, never rewritten. Its seams: `lifecycle` (request to end), `instance`
(what it solves), `execute` (the solve), `publish`.
"""

from quietday.planning.runs.execute import execute_run
from quietday.planning.runs.instance import Built, build_instance
from quietday.planning.runs.lifecycle import (
    RUNNER,
    RunRequest,
    cancel_run,
    create_run,
    fail_run,
    recover_runs,
    run_document,
)
from quietday.planning.runs.publish import PublishReport, publish_run

__all__ = [
    "RUNNER",
    "Built",
    "PublishReport",
    "RunRequest",
    "build_instance",
    "cancel_run",
    "create_run",
    "execute_run",
    "fail_run",
    "publish_run",
    "recover_runs",
    "run_document",
]
