"""`python -m quietday` runs the command line."""

from quietday.cli import app

app()
