"""Database failures the API tells apart: a transient outage (retry later) and a lost race on a
unique constraint (retry may succeed, or the record exists)."""

from sqlalchemy.exc import IntegrityError, OperationalError

__all__ = ["IntegrityError", "OperationalError"]
