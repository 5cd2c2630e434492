"""The HTTP API (FastAPI); the only package that imports fastapi."""

from quietday.api.app import create_app

__all__ = ["create_app"]
