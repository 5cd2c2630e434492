"""The `quietday` command (typer): `commands` holds them, `support` what they need of the
database and the runs beside the planning layer."""

from quietday.cli.commands import app

__all__ = ["app"]
