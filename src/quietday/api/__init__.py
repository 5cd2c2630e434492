"""The HTTP API (FastAPI); the only package that imports fastapi."""

from quietday.api.app import RedactFeedTokens, create_app

__all__ = ["RedactFeedTokens", "create_app"]
