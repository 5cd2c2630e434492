"""The yardstick of the feed benchmark: a bare FastAPI endpoint that answers
`/feeds/<token>.ics` with the very bytes quietday answered, from memory (304 when the client
holds the ETag), under the same uvicorn settings as `quietday serve` (workers, log level).

`python -m benchmarks.bare_feed FEEDS.json --port P --workers N`; FEEDS.json maps each token
to its ETag, Last-Modified and body (latin-1 text of the bytes)."""

from __future__ import annotations

import json
import os
import sys

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

ICS = "text/calendar; charset=utf-8"


def create() -> FastAPI:
    """The app over the feeds named by $QD_BARE_FEEDS."""
    with open(os.environ["QD_BARE_FEEDS"], encoding="utf-8") as f:
        feeds = {
            token: (etag, modified, body.encode("latin-1"))
            for token, (etag, modified, body) in json.load(f).items()
        }
    app = FastAPI()

    @app.get("/feeds/{token}.ics")
    async def feed(token: str, request: Request) -> Response:
        etag, modified, body = feeds[token]
        headers = {
            "ETag": etag,
            "Last-Modified": modified,
            "Cache-Control": "private, max-age=300",
            "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex",
            "X-Content-Type-Options": "nosniff",
        }
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        headers["Content-Disposition"] = 'inline; filename="quietday.ics"'
        return Response(body, media_type=ICS, headers=headers)

    return app


if __name__ == "__main__":
    path, port, workers = sys.argv[1], int(sys.argv[3]), int(sys.argv[5])
    os.environ["QD_BARE_FEEDS"] = path
    uvicorn.run(
        "benchmarks.bare_feed:create",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="info",
    )
