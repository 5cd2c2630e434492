"""A webhook receiver for the tests: a local HTTP server that records every POST and verifies
its signature with the standardwebhooks package (not quietday's code)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


class Receiver:
    """A local HTTP server that records every POST, verifies its signature with the
    standardwebhooks package and answers `answer` (200, or 500 to play a broken receiver)."""

    def __init__(self, port: int = 0) -> None:
        self.secrets: dict[str, str] = {}  # path -> secret
        self.received: list[dict[str, Any]] = []
        self.answer = 200
        self.delay = 0.0
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                secret = owner.secrets[self.path]
                time.sleep(owner.delay)
                verified = Webhook(secret).verify(body, headers)
                with owner.lock:
                    owner.received.append(
                        {
                            "path": self.path,
                            "id": headers["webhook-id"],
                            "payload": verified,
                            "answer": owner.answer,
                        }
                    )
                self.send_response(owner.answer)
                self.end_headers()
                self.wfile.write(b"ok" if owner.answer == 200 else b"broken")

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def delivered(self, path: str | None = None) -> list[dict[str, Any]]:
        return [
            r for r in self.received if r["answer"] == 200 and (path is None or r["path"] == path)
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
