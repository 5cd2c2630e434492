"""Orchestration without HTTP: files, plans, runs and publishing, the registry and keys."""

from quietday.planning.files import (
    CheckReport,
    SolveReport,
    check_files,
    generate_file,
    reason_label,
    solve_file,
    summary_lines,
)

__all__ = [
    "CheckReport",
    "SolveReport",
    "check_files",
    "generate_file",
    "reason_label",
    "solve_file",
    "summary_lines",
]
