"""Benchmarks that print a table and write JSON; speed targets live here, not in timed tests.

One module per benchmark (county, imports, api, feeds, load, distributed, audit, scale,
dashboard), each with `measure` (its figures and bars) and `print_figures`; `harness` holds what
they share. Run from the repository root: `python -m benchmarks --only county`.
"""
