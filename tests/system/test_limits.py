"""Size limits against a real `quietday serve` process: a huge body (with a Content-Length or
chunked) and an XLSX zip bomb are refused with problem+json while the server's peak memory
(VmHWM, from /proc) grows by far less than 150 MB. Times are printed, not asserted."""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openpyxl import Workbook

from conftest import wait_serving
from quietday.persistence import make_engine, upgrade
from quietday.planning.imports import COLUMNS
from seed import seed

MB = 1 << 20
GROWTH = 150 * MB  # the bar for any hostile request


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


class Server:
    """A real `quietday serve` process on a seeded SQLite database."""

    def __init__(self, tmp: Path) -> None:
        url = f"sqlite:///{tmp / 'limits.db'}"
        upgrade(url)
        engine = make_engine(url)
        try:
            self.world = seed(engine)
        finally:
            engine.dispose()
        self.port = _port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "QUIETDAY_DATABASE_URL": url, "QUIETDAY_RUNNER": "thread"}
        self._log = (tmp / "serve.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "quietday", "serve", "--port", str(self.port)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_serving(self.base, self.proc)
        except httpx.TransportError:
            self.stop()
            raise
        # Warm up the routes measured below, so that their first use is not counted as growth.
        httpx.get(f"{self.base}/api/v1/plans", headers=self.world.auth("A"), timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("limits"))
    try:
        yield s
    finally:
        s.stop()


def send_body(
    server: Server, path: str, size: int, *, chunked: bool, auth: dict[str, str] | None = None
) -> tuple[int, dict[str, object], int, float]:
    """POST `size` bytes of JSON-ish body over a raw socket, reading the answer as soon as it
    comes (a server that refuses early does not read the rest): status, body, bytes sent and
    seconds to the answer."""
    content_type, first, filler = SHAPES[path]
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}",
            f"Content-Type: {content_type}", "Connection: close"]  # fmt: skip
    head += [f"{k}: {v}" for k, v in (auth or {}).items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    sent = 0
    answer = b""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        # Each block waits a moment for an answer: the server closes the connection once it
        # has answered, and what is still unread there resets it.
        while sent < size and not select.select([sock], [], [], 0.05)[0]:
            piece = (first if sent == 0 else filler)[: size - sent]
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
        with contextlib.suppress(ConnectionResetError):
            while more := sock.recv(65536):
                answer += more
    elapsed = time.monotonic() - started
    header, _, body = answer.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in header.lower():
        size_line, _, rest = body.partition(b"\r\n")
        body = rest[: int(size_line, 16)]
    return status, json.loads(body), sent, elapsed


_BOUNDARY = "quietday-limits"
# Per route: its content type, the body's first block and the block repeated after it.
SHAPES = {
    "/api/v1/plans": ("application/json", b"[" + b"1," * (MB // 2), b"1," * (MB // 2)),
    "/api/v1/plans/import": (
        f"multipart/form-data; boundary={_BOUNDARY}",
        f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="p.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode(),
        b"A" * MB,
    ),
    "/feeds/x/rate": ("application/x-www-form-urlencoded", b"comment=", b"A" * MB),
}


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("path", ["/api/v1/plans", "/api/v1/plans/import", "/feeds/x/rate"])
def test_a_300_mb_body_is_refused_before_it_is_read(
    server: Server, path: str, chunked: bool
) -> None:
    before = peak_rss(server.proc.pid)
    status, body, sent, elapsed = send_body(server, path, 300 * MB, chunked=chunked)
    grown = peak_rss(server.proc.pid) - before
    print(f"{path} chunked={chunked}: {status} after {sent / MB:.1f} MB sent, "
          f"{elapsed:.3f} s, peak RSS +{grown / MB:.1f} MB")  # fmt: skip
    if chunked and path == "/feeds/x/rate":
        # The form parser's own cap on a field (1 MB) refuses it first.
        assert (status, body["code"]) == (400, "bad_request")
    else:
        assert (status, body["code"]) == (413, "body_too_large")
    assert sent < 300 * MB
    assert grown < GROWTH


_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_STRINGS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def bomb(path: Path, inflated: int) -> None:
    """A valid XLSX whose shared-strings part (declared in its content types and relations, so
    that openpyxl reads it) inflates to about `inflated` bytes of one-letter strings from about
    a thousandth of that, written by streaming (never whole in memory)."""
    book = Workbook()
    book.worksheets[0].append([h for h, _, _ in COLUMNS])
    plain = io.BytesIO()
    book.save(plain)
    with (
        zipfile.ZipFile(plain) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out,
    ):
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "[Content_Types].xml":
                override = (
                    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_STRINGS_TYPE}"/>'
                )
                data = data.replace(b"</Types>", override.encode() + b"</Types>")
            if member.filename == "xl/_rels/workbook.xml.rels":
                rel = (
                    f'<Relationship Id="rIdBomb" Type="{_STRINGS_REL}" Target="sharedStrings.xml"/>'
                )
                data = data.replace(b"</Relationships>", rel.encode() + b"</Relationships>")
            out.writestr(member, data)
        with out.open("xl/sharedStrings.xml", "w") as part:
            part.write(b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
            block = b"<si><t>a</t></si>" * (MB // 17)
            for _ in range(inflated // len(block)):
                part.write(block)
            part.write(b"</sst>")


def test_an_xlsx_zip_bomb_is_refused_with_flat_memory(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    bomb(path, 1024 * MB)
    with zipfile.ZipFile(path) as z:
        strings = z.getinfo("xl/sharedStrings.xml")
    assert strings.file_size > 900 * MB
    assert path.stat().st_size < 4 * MB  # under the upload limit: the zip check must refuse it
    before = peak_rss(server.proc.pid)
    started = time.monotonic()
    with path.open("rb") as f:
        r = httpx.post(
            f"{server.base}/api/v1/plans/import",
            files={"file": ("bomb.xlsx", f)},
            headers=server.world.auth("A"),
            timeout=60,
        )
    elapsed = time.monotonic() - started
    grown = peak_rss(server.proc.pid) - before
    print(f"zip bomb ({path.stat().st_size / MB:.2f} MB -> {strings.file_size / MB:.0f} MB): "
          f"{r.status_code} in {elapsed:.3f} s, peak RSS +{grown / MB:.1f} MB")  # fmt: skip
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["code"] == "xlsx_too_large"
    assert grown < GROWTH


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006"
_SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_BOOK_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"


def _rels(*targets: tuple[str, str]) -> str:
    links = "".join(
        f'<Relationship Id="r{k}" Type="{kind}" Target="{target}"/>'
        for k, (kind, target) in enumerate(targets)
    )
    return f'<Relationships xmlns="{_PKG}/relationships">{links}</Relationships>'


def wide_sheet(path: Path, rows: int) -> None:
    """A legal-size XLSX (every part within its cap, a 16:1 sheet) whose every cell is the one
    shared string, of the longest length a cell may have: cheap to send, dear to echo."""
    strings = ["字" * 4000, *(header for header, _, _ in COLUMNS)]
    types = {
        "/xl/workbook.xml": _BOOK_TYPE,
        "/xl/worksheets/sheet1.xml": _SHEET_TYPE,
        "/xl/sharedStrings.xml": _STRINGS_TYPE,
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            f'<Types xmlns="{_PKG}/content-types"><Default Extension="rels" ContentType='
            '"application/vnd.openxmlformats-package.relationships+xml"/>'
            + "".join(f'<Override PartName="{n}" ContentType="{t}"/>' for n, t in types.items())
            + "</Types>",
        )
        z.writestr("_rels/.rels", _rels((f"{_REL}/officeDocument", "xl/workbook.xml")))
        z.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
            '<sheets><sheet name="检查计划" sheetId="1" r:id="r0"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            _rels(
                (f"{_REL}/worksheet", "worksheets/sheet1.xml"), (_STRINGS_REL, "sharedStrings.xml")
            ),
        )
        z.writestr(
            "xl/sharedStrings.xml",
            f'<sst xmlns="{_MAIN}">' + "".join(f"<si><t>{t}</t></si>" for t in strings) + "</sst>",
        )
        with z.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(f'<worksheet xmlns="{_MAIN}"><sheetData>'.encode())
            for r in range(1, rows + 2):
                cells = "".join(
                    f'<c r="{c}{r}" t="s"><v>{0 if r > 1 else k + 1}</v></c>'
                    for k, c in enumerate("ABCDEFGHIJ")
                )
                sheet.write(f'<row r="{r}">{cells}</row>'.encode())
            sheet.write(b"</sheetData></worksheet>")


@pytest.mark.parametrize("marked", [False, True])
def test_a_sheet_of_long_cells_costs_the_server_little(
    server: Server, tmp_path: Path, marked: bool
) -> None:
    """Each long cell is refused unread, never quoted in a message (a sheet like this once
    held 400 MB of messages quoting it), and the marked copy cuts it short."""
    path = tmp_path / "wide.xlsx"
    wide_sheet(path, 20_000)
    assert path.stat().st_size < 8 * MB  # under the upload limit
    before = peak_rss(server.proc.pid)
    started = time.monotonic()
    with path.open("rb") as f:
        r = httpx.post(
            f"{server.base}/api/v1/plans/import",
            params={"marked": "true"} if marked else None,
            files={"file": ("wide.xlsx", f)},
            headers=server.world.auth("A"),
            timeout=120,
        )
    elapsed = time.monotonic() - started
    grown = peak_rss(server.proc.pid) - before
    print(f"wide sheet ({path.stat().st_size / MB:.2f} MB, marked={marked}): {r.status_code} "
          f"in {elapsed:.1f} s, peak RSS +{grown / MB:.1f} MB")  # fmt: skip
    assert r.status_code == 422
    assert grown < GROWTH
